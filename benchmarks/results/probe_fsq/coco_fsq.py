"""FSQ probe on COCO (issue 18's low rates): the rate-distortion benchmark with FSQ swapped in.

    python benchmarks/results/probe_fsq/coco_fsq.py --fsq --configs 4x256 6x256 --json out.json

Runs ``benchmarks/coco_rate_distortion.py``'s own ``main()`` with its arguments; with ``--fsq``
every tokenizer quantizes by FSQ (``fsq.py`` beside this file), ``token_dim`` set to the number of
level axes of its codebook size.
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.join(HERE, "..", "..")]  # fsq.py and benchmarks/

import coco_rate_distortion  # noqa: E402
import fsq  # noqa: E402

from posetok import PoseTokenizer  # noqa: E402

if __name__ == "__main__":
    if "--fsq" in sys.argv:
        sys.argv.remove("--fsq")
        fsq.install_all()

        def with_fsq_axes(**params):
            return PoseTokenizer(token_dim=len(fsq.LEVELS[params["codebook_size"]]), **params)

        coco_rate_distortion.PoseTokenizer = with_fsq_axes
    coco_rate_distortion.main()

"""A fitted tokenizer over Dask arrays and DataFrames (posetok.parallel)."""

import pickle

import numpy as np
import pytest

from posetok import PoseTokenizer
from posetok.datasets import make_stick_figures

from .conftest import TINY

da = pytest.importorskip("dask.array")
pytest.importorskip("dask.dataframe")
from posetok.parallel import dask_inverse_transform, dask_transform  # noqa: E402


@pytest.fixture(scope="module")
def fitted():
    X, _ = make_stick_figures(2000, random_state=0)
    X[::7, 2:4] = np.nan
    return PoseTokenizer(**TINY, refinement_stages=1, refinement_codebook_size=8).fit(X), X


@pytest.mark.parametrize("encode", ["ordinal", "onehot", "onehot-dense", "codes", "latent"])
def test_blocks_equal_one_call(fitted, encode):
    tok, X = fitted
    tok = _with(tok, encode)
    expected = tok.transform(X)
    lazy = dask_transform(tok, da.from_array(X, chunks=(300, 5)))
    assert lazy.shape == expected.shape and lazy.dtype == expected.dtype
    got = lazy.compute()
    if encode == "onehot":
        assert (got != expected).nnz == 0
    else:
        np.testing.assert_array_equal(got, expected)
    back = dask_inverse_transform(tok, lazy).compute()
    np.testing.assert_array_equal(back, tok.inverse_transform(expected))


def _with(tok, encode):
    import copy

    tok = copy.copy(tok)
    tok.encode = encode
    return tok


def test_three_d_dask_array(fitted):
    tok, X = fitted
    lazy = dask_transform(tok, da.from_array(X.reshape(-1, 13, 2), chunks=(500, 13, 2)))
    np.testing.assert_array_equal(lazy.compute(), tok.transform(X))
    with pytest.raises(ValueError, match="n_keypoints, 2"):
        dask_transform(tok, da.zeros((10, 13, 3)))


def test_dataframe_partitions_keep_index_and_names(fitted):
    import dask.dataframe as dd
    import pandas as pd

    tok, X = fitted
    frame = pd.DataFrame(X, index=np.arange(len(X)) * 10)
    ids = dask_transform(tok, dd.from_pandas(frame, npartitions=3)).compute()
    assert list(ids.columns) == list(tok.get_feature_names_out())
    np.testing.assert_array_equal(ids.index, frame.index)
    np.testing.assert_array_equal(ids.to_numpy(), tok.transform(X))
    poses = dask_inverse_transform(tok, dd.from_pandas(ids, npartitions=2)).compute()
    np.testing.assert_array_equal(poses.to_numpy(), tok.inverse_transform(ids.to_numpy()))


def test_the_model_enters_the_graph_once(fitted):
    tok, X = fitted
    lazy = dask_transform(tok, da.from_array(X, chunks=(100, -1)))
    graph = dict(lazy.__dask_graph__())
    model_size = len(pickle.dumps(tok))
    blocks = [task for key, task in graph.items() if isinstance(key, tuple) and key[0].startswith("_apply")]
    others = [task for key, task in graph.items() if not isinstance(key, tuple)]
    assert len(blocks) == 20 and all(len(pickle.dumps(task)) < model_size / 4 for task in blocks)
    # one task holds the model; the block tasks refer to it by its key
    assert len(others) == 1 and len(pickle.dumps(others[0])) > model_size


def test_refuses_what_is_not_dask(fitted):
    tok, X = fitted
    with pytest.raises(TypeError, match="Dask array or DataFrame"):
        dask_transform(tok, X)
    with pytest.raises(Exception, match="not fitted"):
        dask_transform(PoseTokenizer(), da.from_array(X))


def _stick_block(block_info=None):
    """Poses of one chunk, seeded by the chunk's position: the same on a worker and here."""
    start = block_info[None]["array-location"][0][0]
    n = block_info[None]["chunk-shape"][0]
    return make_stick_figures(n, random_state=start)[0]


def test_local_cluster_with_two_worker_processes_gives_the_serial_ids_on_a_million_poses(fitted):
    distributed = pytest.importorskip("dask.distributed")
    tok, _ = fitted
    n, chunk = 1_000_000, 125_000
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  silence_logs=50) as cluster, distributed.Client(cluster):
        X = da.map_blocks(_stick_block, chunks=((chunk,) * (n // chunk), (26,)), dtype=float)
        ids = dask_transform(tok, X).compute()
    serial = np.concatenate([tok.transform(make_stick_figures(chunk, random_state=s)[0])
                             for s in range(0, n, chunk)])
    assert ids.shape == (n, 17)
    np.testing.assert_array_equal(ids, serial)


def test_dask_ml_parallel_post_fit_computes_the_same_ids(fitted):
    """dask-ml's wrapper works too, but its lazy result claims X's column count; dask_transform's does not."""
    wrappers = pytest.importorskip("dask_ml.wrappers")
    tok, X = fitted
    lazy = wrappers.ParallelPostFit(tok).transform(da.from_array(X, chunks=(500, -1)))
    np.testing.assert_array_equal(lazy.compute(), tok.transform(X))
    assert dask_transform(tok, da.from_array(X, chunks=(500, -1))).shape == tok.transform(X).shape


# ------------------------------------------------------------- BatchTransformer (Ray, Spark)
from posetok.parallel import BatchTransformer  # noqa: E402


def test_batch_transformer_dicts_and_frames(fitted, tmp_path):
    import pandas as pd

    tok, X = fitted
    out = BatchTransformer(tok, keep=["frame"])({"frame": np.arange(50), "keypoints": X[:50].reshape(50, 13, 2)})
    np.testing.assert_array_equal(out["ids"], tok.transform(X[:50]))
    np.testing.assert_array_equal(out["frame"], np.arange(50))
    frame = pd.DataFrame(X[:50], columns=[f"c{i}" for i in range(26)]).assign(video=7)
    tok.save(tmp_path / "m.posetok")
    ids = BatchTransformer(tmp_path / "m.posetok", keep=["video"])(frame)  # loaded from the file once
    assert list(ids.columns) == ["video", *tok.get_feature_names_out()]
    np.testing.assert_array_equal(ids.drop(columns="video").to_numpy(), tok.transform(X[:50]))
    poses = BatchTransformer(tok, method="inverse_transform", keep=["video"])(ids)
    np.testing.assert_array_equal(poses.drop(columns="video").to_numpy(), tok.inverse_transform(tok.transform(X[:50])))
    with pytest.raises(ValueError, match="method"):
        BatchTransformer(tok, method="fit")
    with pytest.raises(TypeError, match="dict of arrays or a pandas DataFrame"):
        BatchTransformer(tok)(X)


def test_ray_data_map_batches_with_a_callable_class(fitted):
    ray = pytest.importorskip("ray")
    tok, X = fitted
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        ds = ray.data.from_items([{"frame": i, "keypoints": X[i].reshape(13, 2)} for i in range(len(X))])
        out = ds.map_batches(BatchTransformer, fn_constructor_kwargs={"model": tok, "keep": ["frame"]},
                             batch_format="numpy", batch_size=256, concurrency=2).to_pandas()
    finally:
        ray.shutdown()
    out = out.sort_values("frame")
    np.testing.assert_array_equal(np.stack(out["ids"].to_numpy()), tok.transform(X))


def test_spark_map_in_pandas_with_a_broadcast_model(fitted):
    pytest.importorskip("pyspark")
    import shutil

    if shutil.which("java") is None:
        pytest.skip("Spark needs Java")
    import pandas as pd
    from pyspark.sql import SparkSession

    tok, X = fitted
    columns = [f"c{i}" for i in range(26)]
    spark = SparkSession.builder.master("local[2]").config("spark.ui.enabled", "false").getOrCreate()
    try:
        frame = spark.createDataFrame(pd.DataFrame(X, columns=columns).assign(frame=np.arange(len(X))))
        model = spark.sparkContext.broadcast(tok)  # sent to each executor once

        def tokenize(batches):
            transformer = BatchTransformer(model.value, keep=["frame"])
            for batch in batches:
                yield transformer(batch)

        schema = "frame long, " + ", ".join(f"{name} long" for name in tok.get_feature_names_out())
        out = frame.mapInPandas(tokenize, schema).toPandas().sort_values("frame")
    finally:
        spark.stop()
    np.testing.assert_array_equal(out.drop(columns="frame").to_numpy(), tok.transform(X))

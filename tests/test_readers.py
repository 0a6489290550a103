import json
from pathlib import Path

import numpy as np
import pytest

from posetok.readers import load_coco_keypoints, load_penn_action

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"


@pytest.fixture
def coco_json(tmp_path):
    names = ["nose", "left_eye"]
    doc = {
        "images": [{"id": 1, "width": 100, "height": 80}],
        "categories": [{"id": 1, "name": "person", "keypoints": names, "skeleton": [[1, 2]]}],
        "annotations": [
            {"id": 10, "image_id": 1, "category_id": 1, "keypoints": [5, 6, 2, 0, 0, 0],
             "num_keypoints": 1, "bbox": [1, 2, 30, 40], "area": 900.0, "iscrowd": 0},
            {"id": 11, "image_id": 1, "category_id": 1, "keypoints": [0, 0, 0, 0, 0, 0],
             "num_keypoints": 0, "bbox": [0, 0, 5, 5], "area": 10.0, "iscrowd": 0},
            {"id": 12, "image_id": 1, "category_id": 1, "keypoints": [7, 8, 1, 9, 10, 2],
             "num_keypoints": 2, "bbox": [3, 4, 10, 20], "area": 150.0, "iscrowd": 0},
        ],
    }
    path = tmp_path / "person_keypoints_val2017.json"
    path.write_text(json.dumps(doc))
    return path


def test_coco_json(coco_json):
    d = load_coco_keypoints(coco_json)
    assert d.keypoints.shape == (2, 2, 2)  # the person with no keypoint is left out
    np.testing.assert_array_equal(d.keypoints[1], [[7, 8], [9, 10]])
    np.testing.assert_array_equal(d.visibility, [[2, 0], [1, 2]])
    np.testing.assert_array_equal(d.bbox[0], [1, 2, 30, 40])
    np.testing.assert_array_equal(d.area, [900, 150])
    assert list(d.keypoint_names) == ["nose", "left_eye"]
    np.testing.assert_array_equal(d.skeleton, [[0, 1]])
    assert len(load_coco_keypoints(coco_json, min_keypoints=2).keypoints) == 1


def test_coco_bad_json(tmp_path):
    bad = tmp_path / "x.json"
    bad.write_text(json.dumps({"annotations": []}))
    with pytest.raises(ValueError, match="keypoint names"):
        load_coco_keypoints(bad)
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="not a COCO keypoint annotation file"):
        load_coco_keypoints(bad)


@pytest.mark.parametrize("loader, words", [(load_coco_keypoints, "cocodataset.org"), (load_penn_action, "Penn Action")])
def test_missing_path_says_where_data_comes_from(tmp_path, loader, words):
    with pytest.raises(FileNotFoundError, match=words):
        loader(tmp_path / "nowhere")


@pytest.fixture
def penn_labels(tmp_path):
    from scipy.io import savemat

    folder = tmp_path / "labels"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for vid, (action, n, train) in enumerate([("squat", 3, 1), ("bowl", 2, -1)], start=1):
        savemat(folder / f"{vid:04d}.mat", {
            "x": rng.uniform(0, 100, (n, 13)), "y": rng.uniform(0, 100, (n, 13)),
            "visibility": np.ones((n, 13), dtype=np.uint8), "bbox": np.tile([1.0, 2, 50, 60], (n - vid + 1, 1)),
            "action": action, "pose": "front", "train": train, "dimensions": [100, 100, n],
        })
    return folder


def test_penn_action_mat_folder(penn_labels):
    d = load_penn_action(penn_labels)
    assert d.keypoints.shape == (5, 13, 2)
    assert list(d.action_names) == ["bowl", "squat"]
    np.testing.assert_array_equal(d.action, [1, 1, 1, 0, 0])
    np.testing.assert_array_equal(d.video_id, [1, 1, 1, 2, 2])
    np.testing.assert_array_equal(d.frame_index, [0, 1, 2, 0, 1])
    np.testing.assert_array_equal(d.is_train, [True] * 3 + [False] * 2)
    assert np.isnan(d.bbox[-1]).all()  # the short bbox of video 2 is padded with NaN


def test_penn_action_empty_folder(tmp_path):
    with pytest.raises(ValueError, match="no .mat files"):
        load_penn_action(tmp_path)


@pytest.mark.skipif(not DATA.exists(), reason="needs ../shared/data")
def test_compact_files():
    coco = load_coco_keypoints(DATA / "coco2017_val_person_keypoints.npz")
    assert coco.keypoints.shape == (6352, 17, 2) and coco.skeleton.min() == 0
    penn = load_penn_action(DATA / "penn_action_2d.npz")
    assert penn.keypoints.shape == (163841, 13, 2) and len(penn.action_names) == 15


@pytest.mark.parametrize("visibility, shown", [(-1, "-1"), (1.5, "1.5"), (float("nan"), "nan"), (3, "3")])
def test_coco_json_visibility_out_of_range_is_refused(tmp_path, visibility, shown):
    # issue 15, item 4: -1 became 255 (read as visible), 1.5 became 1, NaN became 0
    doc = {"categories": [{"keypoints": ["a", "b"], "skeleton": [[1, 2]]}],
           "annotations": [{"id": 7, "keypoints": [1, 2, 2, 3, 4, visibility], "bbox": [0, 0, 5, 5]}]}
    path = tmp_path / "k.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(ValueError, match="annotation 0 \\(id 7\\)"):
        load_coco_keypoints(path)


def test_coco_npz_visibility_out_of_range_is_refused(tmp_path):
    path = tmp_path / "k.npz"
    np.savez(path, keypoints=np.zeros((1, 2, 2)), visibility=np.array([[2, -1]]), bbox=np.zeros((1, 4)))
    with pytest.raises(ValueError, match="visibility flags must be 0, 1 or 2, got -1"):
        load_coco_keypoints(path)


@pytest.mark.parametrize("content, match", [
    ("null", "expected an object with an 'annotations' list"),
    ("[]", "expected an object"),
    ('{"annotations": {}}', "expected an object"),
    ('{"categories": [{"keypoints": ["a"]}], "annotations": [{"keypoints": [1, 2, 2]}]}',
     "annotation 0 .*'bbox' must be a list of 4 numbers"),
    ('{"categories": [{"keypoints": ["a"]}], "annotations": [{"keypoints": [1, 2], "bbox": [0, 0, 1, 1]}]}',
     "'keypoints' must be a list of 3 numbers, got 2 values"),
    ('{"categories": [{"keypoints": ["a"]}], "annotations": [5]}', "annotation 0 .* is not an object"),
])
def test_malformed_coco_json_names_the_problem(tmp_path, content, match):
    path = tmp_path / "k.json"
    path.write_text(content)
    with pytest.raises(ValueError, match=match):
        load_coco_keypoints(path)


def test_non_utf8_coco_json(tmp_path):
    path = tmp_path / "k.json"
    path.write_bytes(b'{"annotations": "\xff"}')
    with pytest.raises(ValueError, match="not UTF-8 JSON"):
        load_coco_keypoints(path)


@pytest.mark.parametrize("change, match", [
    ({"x": np.zeros((3, 12))}, r"'x' and 'y' must both be \(n_frames, 13\)"),
    ({"visibility": np.full((3, 13), 2)}, "'visibility' must be 0/1 flags"),
    ({"bbox": np.zeros((3, 3))}, r"'bbox' must be \(n_frames, 4\)"),
    ({"x": np.array([["a"] * 13] * 3)}, "a field is not numeric"),
])
def test_malformed_penn_files_name_file_and_field(tmp_path, change, match):
    # issue 15, item 12
    from scipy.io import savemat

    fields = {"x": np.zeros((3, 13)), "y": np.zeros((3, 13)), "visibility": np.ones((3, 13)),
              "bbox": np.zeros((3, 4)), "action": "squat", "train": 1}
    savemat(tmp_path / "0001.mat", {**fields, **change})
    with pytest.raises(ValueError, match="0001.mat: " + match):
        load_penn_action(tmp_path)


def test_damaged_penn_file(tmp_path):
    (tmp_path / "0001.mat").write_bytes(b"not a mat file at all")
    with pytest.raises(ValueError, match="0001.mat cannot be read as a MATLAB file"):
        load_penn_action(tmp_path)


# ---------------------------------------------------------------- 3-D and generic joint arrays


def test_load_keypoints_npz_with_and_without_names(tmp_path):
    from posetok.readers import load_keypoints

    kp = np.arange(2 * 3 * 3, dtype=float).reshape(2, 3, 3)
    np.savez(tmp_path / "a.npz", keypoints=kp, joint_names=np.array(["a", "b", "c"]))
    data = load_keypoints(tmp_path / "a.npz")
    np.testing.assert_array_equal(data.keypoints, kp)
    assert data.joint_names.tolist() == ["a", "b", "c"]
    np.savez(tmp_path / "b.npz", poses=kp[..., :2])  # the only array, any name; 2-D joints
    data = load_keypoints(tmp_path / "b.npz")
    assert data.keypoints.shape == (2, 3, 2) and data.joint_names.tolist() == ["joint_0", "joint_1", "joint_2"]
    with pytest.raises(ValueError, match="holds 2 coordinate"):
        load_keypoints(tmp_path / "b.npz", n_dims=3)


@pytest.mark.parametrize("arrays, match", [
    (dict(a=np.zeros((2, 3, 3)), b=np.zeros(2)), "no array named 'keypoints'"),
    (dict(keypoints=np.zeros((2, 9))), r"\(n_frames, n_joints, n_dims\)"),
    (dict(keypoints=np.array([[["x"]]])), "number array"),
    (dict(keypoints=np.zeros((2, 3, 3)), joint_names=np.array(["a", "b"])), "'joint_names' must be 3 strings"),
    (dict(keypoints=np.array([None, 1.0], dtype=object)), "object arrays"),
])
def test_load_keypoints_npz_refuses(tmp_path, arrays, match):
    from posetok.readers import load_keypoints

    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(ValueError, match=match):
        load_keypoints(tmp_path / "bad.npz")


def test_load_keypoints_csv_round_trip_with_missing_joint(tmp_path):
    from posetok.readers import load_keypoints

    (tmp_path / "p.csv").write_text(
        "frame,head_x,head_y,head_z,left_hand_x,left_hand_y,left_hand_z\n"
        "0,0.0,1.7,0.1,0.3,1.0,0.2\n"
        "1,0.0,1.6,0.1,,,\n"
    )
    data = load_keypoints(tmp_path / "p.csv")
    assert data.keypoints.shape == (2, 2, 3) and data.joint_names.tolist() == ["head", "left_hand"]
    np.testing.assert_array_equal(data.frame, [0, 1])
    assert np.isnan(data.keypoints[1, 1]).all() and not np.isnan(data.keypoints[0]).any()
    # the tokenizer takes it as it is, missing joint included
    from posetok import PoseTokenizer

    from .conftest import TINY

    X = np.concatenate([data.keypoints] * 20)
    assert PoseTokenizer(**TINY).fit(X).n_dims_ == 3


@pytest.mark.parametrize("text, match", [
    ("", "is empty"),
    ("head_x,head_y\n", "no frames"),
    ("head_x,head_q\n1,2\n", "column 'head_q'"),
    ("head_x,neck_y\n1,2\n", "not in adjacent columns"),
    ("head_y,head_x\n1,2\n", "coordinates in turn"),
    ("head_x,head_y\n1,2,3\n", "line 2: 3 values for 2 columns"),
    ("head_x,head_y\n1,abc\n", "line 2, column 'head_y': 'abc' is not a number"),
])
def test_load_keypoints_csv_refuses(tmp_path, text, match):
    from posetok.readers import load_keypoints

    (tmp_path / "bad.csv").write_text(text)
    with pytest.raises(ValueError, match=match):
        load_keypoints(tmp_path / "bad.csv")


def test_load_keypoints_other_suffix_and_missing_file(tmp_path):
    from posetok.readers import load_keypoints

    (tmp_path / "a.txt").write_text("x")
    with pytest.raises(ValueError, match="reads .npz and .csv"):
        load_keypoints(tmp_path / "a.txt")
    with pytest.raises(FileNotFoundError):
        load_keypoints(tmp_path / "none.npz")


def _h36m_file(path, positions):
    np.savez_compressed(path, positions_3d=positions)  # as VideoPose3D's prepare_data_h36m.py writes it
    return path


def test_load_h36m_3d_reads_the_videopose3d_layout(tmp_path):
    from posetok.readers import H36M_JOINTS, load_h36m_3d

    rng = np.random.default_rng(0)
    walk, sit = rng.normal(size=(4, 32, 3)).astype(np.float32), rng.normal(size=(2, 32, 3)).astype(np.float32)
    path = _h36m_file(tmp_path / "data_3d_h36m.npz", {"S1": {"Walking": walk, "Sitting 1": sit},
                                                       "S9": {"Walking": walk[:1]}})
    data = load_h36m_3d(path)
    assert data.keypoints.shape == (7, 17, 3) and len(data.joint_names) == len(H36M_JOINTS)
    assert data.subject.tolist() == ["S1"] * 6 + ["S9"]
    assert data.action.tolist()[:2] == ["Sitting 1", "Sitting 1"]
    moving = [0, 1, 2, 3, 6, 7, 8, 12, 13, 14, 15, 17, 18, 19, 25, 26, 27]
    np.testing.assert_allclose(data.keypoints[2], walk[0, moving])
    assert load_h36m_3d(path, subjects=["S9"]).keypoints.shape == (1, 17, 3)
    assert load_h36m_3d(path, all_joints=True).keypoints.shape == (7, 32, 3)
    with pytest.raises(ValueError, match="no subject 'S2'"):
        load_h36m_3d(path, subjects=["S2"])


class _Boom:
    def __reduce__(self):
        import os

        return (os.system, ("echo pwned",))


@pytest.mark.parametrize("positions, match", [
    ({"S1": {"Walking": _Boom()}}, "refused to load"),
    ({"S1": {"Walking": np.zeros((3, 17, 3))}}, r"\(n_frames, 32, 3\)"),
    ({"S1": [1, 2]}, "dictionary subject -> action -> array"),
])
def test_load_h36m_3d_refuses_code_and_wrong_layouts(tmp_path, positions, match):
    from posetok.readers import load_h36m_3d

    path = _h36m_file(tmp_path / "bad.npz", positions)
    with pytest.raises(ValueError, match=match):
        load_h36m_3d(path)


def test_load_h36m_3d_refuses_other_files(tmp_path):
    from posetok.readers import load_h36m_3d

    np.savez(tmp_path / "other.npz", x=np.zeros(3))
    with pytest.raises(ValueError, match="no 'positions_3d'"):
        load_h36m_3d(tmp_path / "other.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="cannot be read"):
        load_h36m_3d(tmp_path / "junk.npz")
    with pytest.raises(FileNotFoundError, match="VideoPose3D"):
        load_h36m_3d(tmp_path / "absent.npz")

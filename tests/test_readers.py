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

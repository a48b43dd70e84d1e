"""COCO top-down data on real COCO val2017 annotations, synthetic data, and evaluation against pycocotools."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest

from runtime.codec import HeatmapCodec
from runtime.errors import DataError
from runtime.transforms import apply_affine, flip_keypoints, invert_affine, warp_crop
from swinpose.data.coco import Augmentation, CocoKeypoints, find_split, load_coco_instances, read_image
from swinpose.data.synthetic import render_image, write_dataset
from swinpose.defaults import inference_for_codec
from swinpose.evaluation import Predictions, coco_keypoint_eval, oks_nms, to_coco_results

DATA = Path(__file__).parent / "data"
COCO = DATA / "coco-val2017-sample"
XTCOCO = DATA / "xtcocoapi-examples"
CODEC = HeatmapCodec((256, 192), (64, 48), sigma=2.0)


def test_real_coco_loads_and_counts_what_it_skips(caplog):
    with caplog.at_level(logging.INFO, logger="swinpose.data.coco"):
        instances, gt = load_coco_instances(COCO / "test_coco.json", COCO)
    assert len(instances) == 12 and len(gt["annotations"]) == 14
    assert "12 person instances; skipped 0 crowd and 2 without keypoints or box" in caplog.text
    sample = CocoKeypoints(instances, inference_for_codec(CODEC))[0]
    assert sample["image"].shape == (3, 256, 192) and sample["image"].dtype == np.float32
    assert sample["target"].shape == (17, 64, 48) and sample["target_weight"].shape == (17,)
    labelled = instances[0].keypoints[:, 2] > 0
    assert sample["target_weight"][labelled].all() and not sample["target_weight"][~labelled].any()


def test_crowd_instances_are_skipped_and_counted(tmp_path, caplog):
    data = json.loads((COCO / "test_coco.json").read_text())
    data["annotations"][0]["iscrowd"] = 1
    (tmp_path / "ann.json").write_text(json.dumps(data))
    with caplog.at_level(logging.INFO, logger="swinpose.data.coco"):
        instances, _ = load_coco_instances(tmp_path / "ann.json", COCO)
    assert len(instances) == 11 and "skipped 1 crowd and 2 without keypoints" in caplog.text


@pytest.mark.parametrize(
    "codec", [CODEC, HeatmapCodec((128, 96), (32, 24), sigma=1.5)], ids=["256x192", "128x96-bundled"]
)
def test_gt_keypoints_encoded_then_decoded_give_ap_1_on_real_poses(codec):
    instances, gt = load_coco_instances(COCO / "test_coco.json", COCO)
    ds = CocoKeypoints(instances, inference_for_codec(codec))
    samples = [ds[i] for i in range(len(ds))]
    xy_hm, _ = codec.decode(np.stack([s["target"] for s in samples]))
    inverse = invert_affine(np.stack([s["matrix"] for s in samples]))
    xy = apply_affine(codec.heatmap_to_input(xy_hm), inverse)
    truth = np.stack([inst.keypoints for inst in instances])
    labelled = truth[..., 2] > 0
    err = np.linalg.norm(xy - truth[..., :2], axis=-1)[labelled]
    assert err.mean() < 0.05  # image pixels; measured 0.0006 (256x192) and 0.003 (128x96)
    pred = Predictions(
        xy,
        np.ones(xy.shape[:2], np.float32),
        np.array([s["image_id"] for s in samples]),
        np.ones(len(samples)),
        np.ones(len(samples)),
    )
    assert coco_keypoint_eval(gt, to_coco_results(pred))["AP"] >= 0.99


def test_detector_boxes_with_score_threshold():
    dets = COCO / "test_coco_det_AP_H_56.json"
    all_boxes, _ = load_coco_instances(COCO / "test_coco.json", COCO, detections=dets)
    high, _ = load_coco_instances(COCO / "test_coco.json", COCO, detections=dets, det_score_thr=0.5)
    raw = json.loads(dets.read_text())
    assert len(all_boxes) == sum(d["category_id"] == 1 for d in raw) == 118
    assert len(high) == sum(d["category_id"] == 1 and d["score"] >= 0.5 for d in raw) < 118
    assert all(inst.score >= 0.5 for inst in high)


def test_evaluation_reproduces_the_xtcocotools_reference_figures():
    stats = coco_keypoint_eval(XTCOCO / "example_coco_val.json", XTCOCO / "example_coco_preds.json")
    reference = "0.860890 0.993145 0.910891 0.775578 0.937252 0.875000 1.000000 0.916667 0.780000 0.942857"
    np.testing.assert_allclose(list(stats.values()), [float(v) for v in reference.split()], atol=5e-7)


def test_oks_nms_suppresses_duplicates_only():
    base = np.random.default_rng(0).uniform(0, 100, (17, 2))
    kps = np.stack([base, base + 0.5, base + 60.0])
    keep = oks_nms(kps, np.array([0.5, 0.9, 0.8]), np.full(3, 5000.0), threshold=0.9)
    assert keep.tolist() == [1, 2]


def test_bad_files_name_the_file_and_id(tmp_path):
    with pytest.raises(DataError, match="14 keypoints but the model predicts 17"):
        load_coco_instances(XTCOCO / "example_crowdpose_val.json", tmp_path)
    data = json.loads((COCO / "test_coco.json").read_text())
    bad = json.loads(json.dumps(data))
    bad["annotations"][3]["keypoints"] = bad["annotations"][3]["keypoints"][:-3]
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    with pytest.raises(DataError, match=f"annotation id {bad['annotations'][3]['id']} is malformed"):
        load_coco_instances(tmp_path / "bad.json", COCO)
    (tmp_path / "broken.json").write_text("{")
    with pytest.raises(DataError, match="broken.json is not valid JSON"):
        load_coco_instances(tmp_path / "broken.json", COCO)
    # a missing and a corrupt image
    images = tmp_path / "images"
    images.mkdir()
    instances, _ = load_coco_instances(COCO / "test_coco.json", images)
    ds = CocoKeypoints(instances, inference_for_codec(CODEC))
    with pytest.raises(
        DataError, match=rf"{instances[0].file.name} \(image_id {instances[0].image_id}\) does not exist"
    ):
        ds[0]
    shutil.copy(COCO / instances[0].file.name, images)
    instances[0].file.write_bytes(instances[0].file.read_bytes()[:200])
    with pytest.raises(DataError, match=rf"{instances[0].file.name} is a JPEG .* truncated.*\(image_id "):
        ds[0]
    instances[0].file.write_bytes(b"not an image at all")
    with pytest.raises(DataError, match=rf"{instances[0].file.name} \(19 bytes\) is not an image OpenCV decodes"):
        ds[0]
    with pytest.raises(DataError, match="no 'val' split"):
        find_split(tmp_path, "val")


def test_augmented_samples_are_exact_flipped_affine_crops(tmp_path):
    write_dataset(tmp_path, 4, 0, seed=3, progress=False)
    ann, images = find_split(tmp_path, "train")
    instances, _ = load_coco_instances(ann, images)
    codec = HeatmapCodec((128, 96), (32, 24), sigma=1.5)
    augment = Augmentation(flip_prob=1.0, rotation_prob=1.0, half_body_prob=0)
    ds = CocoKeypoints(instances, inference_for_codec(codec), augment, seed=0)
    perm = ds.flip_perm
    checked = 0
    for i, inst in enumerate(instances):
        s = ds[i]
        # the crop is the mirrored affine warp of the image under the sample's matrix
        expected = ds.preprocess.normalize(warp_crop(read_image(inst), s["matrix"], (96, 128))[None, :, ::-1].copy())[0]
        np.testing.assert_allclose(s["image"], expected, atol=1e-5)
        # decoding the targets, un-mirroring and inverting the matrix lands on the annotated keypoints
        xy_hm, _ = codec.decode(s["target"])
        xy, w = flip_keypoints(codec.heatmap_to_input(xy_hm), s["target_weight"], 96, perm)
        xy_img = apply_affine(xy, invert_affine(s["matrix"]))
        on = w > 0
        image_px_per_heatmap_px = 4 / np.sqrt(abs(np.linalg.det(s["matrix"][:, :2])))
        err = np.linalg.norm(xy_img - inst.keypoints[:, :2], axis=-1)[on] / image_px_per_heatmap_px
        # exact but for keypoints on the outermost heatmap ring, which DARK cannot refine (half a pixel per axis)
        assert np.median(err) < 0.01 and err.max() < 0.5 * np.sqrt(2)
        assert (inst.keypoints[on, 2] > 0).all()
        checked += on.sum()
    assert checked > 30
    first = ds[0]["matrix"]
    ds.set_epoch(1)
    assert not np.array_equal(ds[0]["matrix"], first)


def test_synthetic_is_deterministic_and_honest(tmp_path):
    a_img, a_people = render_image(5, "val", 2)
    b_img, b_people = render_image(5, "val", 2)
    assert np.array_equal(a_img, b_img) and len(a_people) == len(b_people)
    assert not np.array_equal(a_img, render_image(6, "val", 2)[0])
    h, w = a_img.shape[:2]
    vis_total = np.zeros(3, int)
    for i in range(30):
        img, people = render_image(0, "train", i)
        h, w = img.shape[:2]
        for p in people:
            kp = p["keypoints"]
            out = kp[:, 2] == 0
            assert (kp[out, :2] == 0).all()
            inside = kp[~out, :2]
            assert ((inside >= 0) & (inside <= [w - 1, h - 1])).all()
            x, y, bw, bh = p["bbox"]
            assert 0 <= x and 0 <= y and x + bw <= w and y + bh <= h and 0 < p["area"] <= bw * bh
            vis_total += np.bincount(kp[:, 2].astype(int), minlength=3)
    # all three flags occur: truncation (0), occlusion (1) and visible (2) points
    assert (vis_total > 0).all() and vis_total[2] > vis_total[1]
    files = write_dataset(tmp_path, 3, 2, seed=5, progress=False)
    val = json.loads(files["val"].read_text())
    assert [im["file_name"] for im in val["images"]] == ["000000000001.jpg", "000000000002.jpg"]
    assert val["categories"][0]["keypoints"][0] == "nose" and len(val["categories"][0]["skeleton"]) == 19
    ann = val["annotations"][0]
    assert ann["num_keypoints"] == sum(v > 0 for v in ann["keypoints"][2::3]) and ann["iscrowd"] == 0
    # a smaller set made with the same seed is a prefix of a larger one
    first = next(a for a in val["annotations"] if a["image_id"] == 1)
    assert first["keypoints"] == [round(float(v), 2) for v in render_image(5, "val", 0)[1][0]["keypoints"].ravel()]

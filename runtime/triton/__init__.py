"""Serving on NVIDIA Triton Inference Server: a model repository made from a package (:mod:`.repository`), a local
``tritonserver`` started on it (:mod:`.server`, ``swinpose-serve``), and a client (:mod:`.client`).

The repository holds two models, or three. ``swinpose_net`` is the network: TensorRT's ``tensorrt_plan`` when the
package has an engine, ONNX Runtime's ``onnxruntime_onnx`` otherwise, or, where the server has neither backend (the
``tritonserver`` in the ``nvidia-pytriton`` wheel has only the Python backend), ONNX Runtime inside the Python
backend. Each has Triton's dynamic batcher. ``swinpose`` is the pipeline, in the Python backend: image and boxes in,
keypoints, scores and the boxes out, with PoseEngine's own pre-processing and decoding (``runtime``), and the
network called through BLS so that the crops of concurrent requests meet in the network's batches. With a detector
package, ``swinpose_det`` is the person detector (ONNX Runtime in the Python backend, dynamic batching): a request
without boxes goes through it first, by BLS, and :class:`runtime.detection.Detector`'s own code decodes its outputs.
"""

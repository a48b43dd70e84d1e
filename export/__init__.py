"""swinpose export: checkpoint → ONNX (fp32/fp16/int8) → TensorRT engine, written as a model package."""

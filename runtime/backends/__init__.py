"""Inference backends behind one contract, and the small CUDA helper the TensorRT pieces share."""

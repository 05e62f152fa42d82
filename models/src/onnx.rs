//! ONNX export of the deterministic actor: written by the onnx helper.

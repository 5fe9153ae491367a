"""training.quiet: onnxruntime's quantiser logs every skipped tensor at INFO on
the root logger; a real quantisation of a tiny graph shows none of that, while
the root logger's level is restored afterwards."""
from __future__ import annotations

import logging

import numpy as np


def _tiny_graph(path):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.random.default_rng(0).normal(size=(8, 8)).astype(np.float32), "w")
    nodes = [helper.make_node("MatMul", ["x", "w"], ["h"], name="const_b"),
             # a MatMul over two activations: the quantiser says it ignores it, at INFO
             helper.make_node("MatMul", ["h", "y"], ["out"], name="non_const_b")]
    graph = helper.make_graph(
        nodes, "tiny", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8]),
                        helper.make_tensor_value_info("y", TensorProto.FLOAT, [8, 8])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 8])], [w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))


def _quantize(src, dst):
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8)


def test_the_quantiser_chatter_is_silenced_and_the_level_restored(tmp_path, caplog):
    from training.quiet import quiet_quantizer

    _tiny_graph(tmp_path / "fp32.onnx")
    root = logging.getLogger()
    caplog.set_level(logging.INFO)
    _quantize(tmp_path / "fp32.onnx", tmp_path / "loud.onnx")
    loud = [r for r in caplog.records if r.name == "root" and r.levelno == logging.INFO]
    assert loud, "the quantiser no longer logs at INFO: this test checks nothing"
    caplog.clear()
    with quiet_quantizer():
        _quantize(tmp_path / "fp32.onnx", tmp_path / "quiet.onnx")
    assert not [r for r in caplog.records if r.levelno < logging.WARNING]
    assert root.level == logging.INFO
    assert (tmp_path / "quiet.onnx").stat().st_size > 0

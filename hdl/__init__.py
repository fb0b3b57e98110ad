"""Amaranth RTL: neuron cores (`hdl.cores`), the layer engine, event buffers, `snn_top`."""

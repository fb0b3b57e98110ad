"""Bit-exact integer model of the spiking networks the RTL implements.

`golden.convert` turns a trained `torch.nn.Module` into an integer layer description,
`golden.codings` holds one module per spike coding (registered by name), and
`golden.roms` packs the integer tables into the words the RTL memories hold.
"""

"""cocotb testbenches on Verilator that check the RTL against `golden/`."""

"""Run the model repository on Triton: the embedded launcher (the wheel's server + a Python-backend twin)."""

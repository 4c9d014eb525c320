"""Helpers the test suite shares: the exported test repository and the embedded stack (real Triton)."""

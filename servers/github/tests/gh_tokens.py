"""Test tokens, importable by name from every test module (a `conftest` import would clash across servers)."""

TOKEN = "ghp_TestToken0123456789abcdefghijklmnopqr"
OTHER_TOKEN = "ghp_OtherToken9876543210zyxwvutsrqponmlk"

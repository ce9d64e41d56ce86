"""Redaction before code leaves the machine: real-looking secrets go, near misses stay."""

# ruff: noqa: E501 (secrets are long literals)

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reason_lsp.engine.redact import PLACEHOLDER, entropy, redact, says_secret

# Each: (code, the secret that must not survive). Shapes from real leaks; values made up.
SECRETS = [
    ('AWS_ACCESS_KEY_ID = "AKIAQYLPMN5HHHFPZAM2"\n', "AKIAQYLPMN5HHHFPZAM2"),
    ("key = AKIAQYLPMN5HHHFPZAM2\n", "AKIAQYLPMN5HHHFPZAM2"),
    (
        'aws_secret_access_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY"\n',
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY",
    ),
    ('password = "hunter2"\n', "hunter2"),
    ("DB_PASSWORD='c0rrect-h0rse-battery'\n", "c0rrect-h0rse-battery"),
    ('config = {"password": "s3cr3t!pass"}\n', "s3cr3t!pass"),
    ('conn(user="app", passwd="Tr0ub4dor&3")\n', "Tr0ub4dor&3"),
    ('const apiKey = "9f8e7d6c5b4a39281706f5e4d3c2b1a0";\n', "9f8e7d6c5b4a39281706f5e4d3c2b1a0"),
    ('clientSecret: "Zx81-PqLm_09sdkfjQwe"\n', "Zx81-PqLm_09sdkfjQwe"),
    ('token := "tok_live_7d8f9g0h1j2k3l4m"\n', "tok_live_7d8f9g0h1j2k3l4m"),
    (
        'headers = {"Authorization": "Bearer abcDEF123ghiJKL456mnoPQR789"}\n',
        "abcDEF123ghiJKL456mnoPQR789",
    ),
    ("curl -H 'Authorization: bearer Zm9vYmFyYmF6cXV4cXV1eA=='\n", "Zm9vYmFyYmF6cXV4cXV1eA=="),
    (
        'GITHUB = "ghp_1234567890abcdefghijABCDEFGHIJ123456"\n',
        "ghp_1234567890abcdefghijABCDEFGHIJ123456",
    ),
    ("slack = 'xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOp'\n", "xoxb-123456789012"),
    (
        'OPENAI_API_KEY = "sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv"\n',
        "sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv",
    ),
    (
        'maps = "AIzaSyD3kFj29sKfj20sdfKJ2l3kjsdf9sdfj2k"\n',
        "AIzaSyD3kFj29sKfj20sdfKJ2l3kjsdf9sdfj2k",
    ),
    ('stripe.api_key = "sk_live_4eC39HqLyjWDarjtT1zdp7dc"\n', "sk_live_4eC39HqLyjWDarjtT1zdp7dc"),
    (
        'jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"\n',
        "dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
    ),
    ('session = "q8Zr2LmX9vTn4WbK7sPd3Yh6"\n', "q8Zr2LmX9vTn4WbK7sPd3Yh6"),  # high entropy
    (
        "KEY = '''\n-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun\n"
        "VTLw7onLRnrq0/IzW7yWR7QkrmBL7jTKEn5u+qKhbwKfBstIs+bMY2Zkp18gnTxK\n"
        "-----END RSA PRIVATE KEY-----\n'''\n",
        "MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun",
    ),
    (  # a key block cut off by the end of the prompt window
        "pem = '''-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW",
        "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAE",
    ),
]

NEAR_MISSES = [
    'password = ""\n',
    "password = input('Password: ')\n",
    'password = os.environ["DB_PASSWORD"]\n',
    'if password == "":\n    raise ValueError("empty")\n',
    'password_field = "password"\n',
    'token_url = "https://auth.example.com/oauth/token"\n',
    'api_key_env = "OPENAI_API_KEY"\n',
    'max_tokens = "64"\n',
    'tokens_file = "tokens.txt"\n',
    'EXPECTED_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"\n',
    'commit = "7e404e9a1b2c3d4e5f60718293a4b5c6d7e8f901"\n',
    'path = "/usr/local/lib/python3.11/site-packages/reason_lsp/engine"\n',
    'message = "the quick brown fox jumps over the lazy dog again"\n',
    'name = "ThisIsALongCamelCaseIdentifierName"\n',
    'blob = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"\n',
    "# Send a bearer token in the Authorization header.\n",
    'auth = f"Bearer {token}"\n',
    'password = "<your password here>"\n',
    'password = "********"\n',
    "def check_password(password: str) -> bool:\n    return len(password) > 8\n",
    'url = "https://example.com/api/v1/items?page=2&sort=desc"\n',
    'uuid = "123e4567-e89b-12d3-a456-426614174000"\n',
]


@pytest.mark.parametrize(("code", "secret"), SECRETS)
def test_real_looking_secrets_are_redacted(code: str, secret: str) -> None:
    out = redact(code)
    assert secret not in out.text
    assert PLACEHOLDER in out.text
    assert out.count >= 1


@pytest.mark.parametrize("code", NEAR_MISSES)
def test_near_misses_are_left_alone(code: str) -> None:
    out = redact(code)
    assert out.text == code and out.count == 0


def test_the_code_keeps_its_shape_and_offsets_map_back() -> None:
    code = 'a = 1\npassword = "hunter2"\nb = 2\n'
    out = redact(code)
    assert out.text == 'a = 1\npassword = "REDACTED"\nb = 2\n'
    b_at = out.text.index("b = 2")
    assert out.original_offset(b_at) == code.index("b = 2")
    assert out.original_offset(out.text.index("REDACTED") + 3) == code.index("hunter2")
    assert out.inside(out.text.index("REDACTED"), out.text.index("REDACTED") + 1)
    assert not out.inside(0, 5)


def test_several_secrets_are_counted() -> None:
    code = 'password = "hunter2"\naws = "AKIAQYLPMN5HHHFPZAM2"\n'
    assert redact(code).count == 2


@pytest.mark.parametrize(
    ("name", "secret"),
    [("db_password", True), ("apiKey", True), ("AWS_SECRET_ACCESS_KEY", True),
     ("authToken", True), ("password_field", False), ("tokenizer", False), ("max_tokens", False)],
)  # fmt: skip
def test_names_that_say_secret(name: str, secret: bool) -> None:
    assert says_secret(name) is secret


def test_entropy() -> None:
    assert entropy("aaaa") == 0.0
    assert entropy("abcd") == pytest.approx(2.0)


@given(st.text(max_size=300))
def test_offsets_map_into_the_original(text: str) -> None:
    out = redact(text)
    for i in range(len(out.text) + 1):
        assert 0 <= out.original_offset(i) <= len(text)
    if out.count == 0:
        assert out.text == text

#!/usr/bin/env python3
"""RFC 6238 TOTP (SHA-1, 6 digits, 30-second steps) for the benchmark.

Used only when `oathtool` is not installed; standard library only, so the
benchmark needs no pip packages.

    totp.py BASE32_SECRET UNIX_SECONDS
"""
import base64
import hashlib
import hmac
import struct
import sys


def totp(secret_b32: str, unix_seconds: int, step: int = 30, digits: int = 6) -> str:
    secret = secret_b32.strip().replace(" ", "").upper()
    secret += "=" * ((8 - len(secret) % 8) % 8)  # base32 needs padding
    key = base64.b32decode(secret)
    counter = struct.pack(">Q", unix_seconds // step)
    mac = hmac.new(key, counter, hashlib.sha1).digest()
    offset = mac[-1] & 0x0F
    code = struct.unpack(">I", mac[offset : offset + 4])[0] & 0x7FFFFFFF
    return str(code % 10**digits).zfill(digits)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: totp.py BASE32_SECRET UNIX_SECONDS")
    print(totp(sys.argv[1], int(sys.argv[2])))

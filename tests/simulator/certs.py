"""Throwaway key material: a CA and server certificate for TLS, and RSA keys for service accounts."""

from __future__ import annotations

import base64
import datetime
import ipaddress
import os
from concurrent.futures import ThreadPoolExecutor

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

SERVICE_ACCOUNT_KEY_BITS = 2048


def _name(common_name):
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, 'Identity Cloud tenant simulator'),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def make_tls_files(directory, host='127.0.0.1'):
    """Write ca.pem, server.pem and server-key.pem into ``directory``; return their paths.

    EC keys keep start-up fast; the CA is valid for a day, which outlives any test run.
    """
    now = datetime.datetime.now(datetime.timezone.utc)
    start, end = now - datetime.timedelta(minutes=5), now + datetime.timedelta(days=1)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name('Simulator throwaway CA')
    ca_cert = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
               .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(start).not_valid_after(end)
               .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
               .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                            data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                            crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
               .sign(ca_key, hashes.SHA256()))
    server_key = ec.generate_private_key(ec.SECP256R1())
    alt_names = [x509.DNSName('localhost'), x509.IPAddress(ipaddress.ip_address('127.0.0.1'))]
    if host not in ('127.0.0.1', 'localhost'):
        try:
            alt_names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            alt_names.append(x509.DNSName(host))
    server_cert = (x509.CertificateBuilder().subject_name(_name(host)).issuer_name(ca_name)
                   .public_key(server_key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(start).not_valid_after(end)
                   .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
                   .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                   .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
                   .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
                   .sign(ca_key, hashes.SHA256()))
    paths = {'ca': directory / 'ca.pem', 'cert': directory / 'server.pem', 'key': directory / 'server-key.pem'}
    paths['ca'].write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    paths['cert'].write_bytes(server_cert.public_bytes(serialization.Encoding.PEM))
    paths['key'].write_bytes(server_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                      serialization.NoEncryption()))
    paths['key'].chmod(0o600)
    return paths


def generate_rsa_keys(count):
    """``count`` fresh RSA keys, made in parallel (OpenSSL releases the GIL while it searches for primes)."""
    if count <= 0:
        return []
    with ThreadPoolExecutor(max_workers=min(8, count)) as pool:
        return list(pool.map(lambda _: rsa.generate_private_key(public_exponent=65537, key_size=SERVICE_ACCOUNT_KEY_BITS),
                             range(count)))


def load_or_generate_rsa_keys(count, cache_dir=None):
    """``count`` RSA keys; with ``cache_dir``, keys saved there by earlier runs are reused and new ones saved.

    Only for test speed: every run still makes fresh service-account ids, and the keys never leave the machine.
    """
    if cache_dir is None:
        return generate_rsa_keys(count)
    cache_dir.mkdir(parents=True, exist_ok=True)
    keys = []
    for index in range(count):
        path = cache_dir / ('service-account-%04d.pem' % index)
        try:
            # Our own files: skip OpenSSL's slow consistency check of the key (about 50 ms each).
            keys.append(serialization.load_pem_private_key(path.read_bytes(), password=None,
                                                           unsafe_skip_rsa_key_validation=True))
        except (OSError, ValueError):
            break
    fresh = generate_rsa_keys(count - len(keys))
    for index, key in enumerate(fresh, start=len(keys)):
        path = cache_dir / ('service-account-%04d.pem' % index)
        temporary = path.with_name('.%s.%d' % (path.name, os.getpid()))
        temporary.write_text(private_pem(key), encoding='ascii')
        temporary.chmod(0o600)
        os.replace(temporary, path)
    return keys + fresh


def _b64_int(number):
    raw = number.to_bytes((number.bit_length() + 7) // 8 or 1, 'big')
    return base64.urlsafe_b64encode(raw).rstrip(b'=').decode('ascii')


def private_jwk(key, kid):
    """The private RSA key as a JWK, the form in which Identity Cloud hands service-account keys out."""
    numbers = key.private_numbers()
    public = numbers.public_numbers
    return {'kty': 'RSA', 'kid': kid, 'alg': 'RS256', 'use': 'sig',
            'n': _b64_int(public.n), 'e': _b64_int(public.e), 'd': _b64_int(numbers.d),
            'p': _b64_int(numbers.p), 'q': _b64_int(numbers.q),
            'dp': _b64_int(numbers.dmp1), 'dq': _b64_int(numbers.dmq1), 'qi': _b64_int(numbers.iqmp)}


def private_pem(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode('ascii')

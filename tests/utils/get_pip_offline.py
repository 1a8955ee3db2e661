# -*- coding: utf-8 -*-
"""Stand-in for the get-pip.py that ansible-test downloads to bootstrap pip into its sanity
virtual environments. That download comes from a host outside the package index, which test
machines cannot reach; this installs the exact pip version ansible-test asks for from the package
index instead: with uv where the Makefile's .venv brings it (on ansible-test's PATH), in well under
a second, else with the standard library's ensurepip and then pip. The Makefile puts it in
ansible-test's cache under the name ansible-test looks for."""

from __future__ import annotations

import ensurepip
import os
import shutil
import ssl
import subprocess
import sys

# get-pip.py options that a plain `pip install` does not know.
GET_PIP_ONLY = ('--no-setuptools', '--no-wheel')


def system_ca_bundle():
    """ansible-test runs pip without any pip configuration or the caller's environment; the bootstrap pip
    then only trusts its own bundle, so point it (or uv) at the system's, which is what the machine's
    package index access relies on."""
    candidates = ('/etc/ssl/certs/ca-certificates.crt', '/etc/pki/tls/certs/ca-bundle.crt', ssl.get_default_verify_paths().cafile)
    return next((path for path in candidates if path and os.path.exists(path)), None)


def with_uv(uv, arguments, bundle):
    """The requested packages (pip==X and whatever else get-pip.py was asked for) into this interpreter's venv."""
    env = dict(os.environ)
    if bundle:
        env['SSL_CERT_FILE'] = bundle
    packages = [argument for argument in arguments if not argument.startswith('-')]
    subprocess.check_call([uv, 'pip', 'install', '--quiet', '--python', sys.executable] + packages, env=env)


def with_ensurepip(arguments, bundle):
    """The bundled pip first, then the requested one through it."""
    ensurepip.bootstrap(upgrade=True)
    if bundle:
        arguments = ['--cert', bundle] + arguments
    subprocess.check_call([sys.executable, '-m', 'pip', 'install', '--quiet'] + arguments)


def main():
    arguments = [argument for argument in sys.argv[1:] if argument not in GET_PIP_ONLY]
    bundle = system_ca_bundle()
    uv = shutil.which('uv')
    if uv:
        with_uv(uv, arguments, bundle)
    else:
        with_ensurepip(arguments, bundle)


if __name__ == '__main__':
    main()

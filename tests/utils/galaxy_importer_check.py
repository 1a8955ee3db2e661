# -*- coding: utf-8 -*-
"""make importer: galaxy-importer, Galaxy's own import checks, on the collection's tarball, offline.

Run with the Python of the virtual environment galaxy-importer is installed in (its ansible-doc, ansible-lint and
flake8 are the ones the importer runs). galaxy-importer exits 1 only when the import itself fails; the problems it
finds on the way it logs, one ``ERROR: `` or ``WARNING: `` line each, and exits 0. So this fails when the importer
exits non-zero, logs an error or a traceback, or does not say that it completed; warnings are listed, not fatal.

galaxy.yml names no repository (the collection has none yet, and a placeholder would be false), and Galaxy refuses an
import without one. Until galaxy.yml names it, the importer reads a copy of the tarball whose MANIFEST.json holds a
stand-in that is not a URL, and this says so each time; the tarball users get is left as it was built."""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

COMPLETED = 'Importer processing completed successfully'
ERROR_PREFIXES = ('ERROR:', 'CRITICAL:')
TRACEBACK = 'Traceback (most recent call last)'
STAND_IN_REPOSITORY = 'none yet: a stand-in for make importer, galaxy.yml names no repository'


def manifest_of(tarball):
    with tarfile.open(tarball) as archive:
        return json.load(archive.extractfile('MANIFEST.json'))


def with_stand_in_repository(tarball, folder):
    """A copy of ``tarball`` under ``folder`` (same name, as the importer checks the name against the manifest) whose
    MANIFEST.json names the stand-in repository; every other member as it was."""
    folder.mkdir(parents=True, exist_ok=True)
    copy = folder / tarball.name
    with tarfile.open(tarball) as source, tarfile.open(copy, 'w:gz') as target:
        for member in source.getmembers():
            content = source.extractfile(member) if member.isfile() else None
            if member.name == 'MANIFEST.json':
                manifest = json.load(content)
                manifest['collection_info']['repository'] = STAND_IN_REPOSITORY
                data = json.dumps(manifest, indent=4).encode('utf-8')
                member.size = len(data)
                content = io.BytesIO(data)
            target.addfile(member, content)
    return copy


def run_importer(tarball, config, work):
    """Run galaxy-importer on ``tarball``, its lines printed as they come; returns (exit status, lines)."""
    environment = {name: value for name, value in os.environ.items() if not name.startswith('GALAXY_IMPORTER_')}
    environment.update(
        GALAXY_IMPORTER_CONFIG=str(config),
        GALAXY_IMPORTER_TMP_ROOT_DIR=str(work / 'tmp'),
        GALAXY_IMPORTER_ANSIBLE_LOCAL_TMP=str(work / 'ansible-tmp'),
        # The importer runs ansible-doc, ansible-lint and flake8 by name: those of its own environment.
        PATH=os.pathsep.join((str(Path(sys.executable).parent), environment.get('PATH', os.defpath))),
    )
    (work / 'tmp').mkdir(parents=True, exist_ok=True)
    (work / 'ansible-tmp').mkdir(parents=True, exist_ok=True)
    lines = []
    # The importer writes importer_result.json to its working directory: into work.
    with subprocess.Popen([sys.executable, '-m', 'galaxy_importer.main', str(tarball)], cwd=work, env=environment,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as process:
        for line in process.stdout:
            print(line, end='', flush=True)
            lines.append(line.rstrip('\n'))
    return process.returncode, lines


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--config', required=True, type=Path, help="galaxy-importer's settings (an INI file)")
    parser.add_argument('tarball', type=Path, help='the tarball ansible-galaxy collection build made')
    arguments = parser.parse_args()
    tarball = arguments.tarball.resolve()
    config = arguments.config.resolve()
    work = tarball.parent / 'work'
    result = work / 'importer_result.json'
    if result.exists():
        result.unlink()

    notes = []
    checked = tarball
    if not manifest_of(tarball)['collection_info'].get('repository'):
        checked = with_stand_in_repository(tarball, work / 'stand-in')
        notes.append('galaxy.yml names no repository, which Galaxy requires: checked with a stand-in (%r); Galaxy will '
                     'refuse this collection until galaxy.yml names its repository.' % STAND_IN_REPOSITORY)
        print('NOTE: ' + notes[-1], flush=True)

    status, lines = run_importer(checked, config, work)
    errors = [line for line in lines if line.startswith(ERROR_PREFIXES)]
    warnings = [line for line in lines if line.startswith('WARNING:')]
    problems = list(errors)
    if any(TRACEBACK in line for line in lines) and not errors:
        problems.append('a traceback (above)')
    if status != 0:
        problems.append('galaxy-importer exited %d' % status)
    if COMPLETED not in lines or not result.exists():
        problems.append('galaxy-importer did not complete (no "%s", or no %s)' % (COMPLETED, result))

    print('\ngalaxy-importer on %s: %d error(s), %d warning(s)' % (tarball, len(errors), len(warnings)))
    for line in notes:
        print('  NOTE: ' + line)
    for line in warnings:
        print('  ' + line)
    if problems:
        for line in problems:
            print('  FAILED: ' + line.splitlines()[0][:400])
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())

"""uv's catalogue of PBS downloads, as vendored for the unit tests: loading it, and trimming it.

The tests replay real published asset names, URLs and digests, so they need uv's
``crates/uv-python/download-metadata.json``; the repository carries the part of it they read
(see tests/unit/plugins/module_utils/fixtures/uv/README.md for origin and licence), so the tests
run on any checkout. The rule for what is kept lives here, beside the loader, so the file and the
tests that read it cannot drift apart. Regenerate after a uv update with::

    python tests/support/uv_catalogue.py /path/to/uv/crates/uv-python/download-metadata.json
"""

import gzip
import io
import json
import os
import re
import sys

PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, 'unit', 'plugins', 'module_utils',
                    'fixtures', 'uv', 'download-metadata.trimmed.json.gz')

# Releases whose every listed CPython file is kept: test_release rebuilds their SHA256SUMS from them.
RELEASE_TAGS = ('20220227', '20240107', '20240909', '20250317', '20251031', '20260325', '20260814')

_INSTALL_ONLY = re.compile(r'install_only(_stripped)?\.tar\.gz$')


def keep(entry):
    """Every CPython install_only[_stripped] archive (all OSes), and every file of RELEASE_TAGS."""
    if entry.get('name') != 'cpython':
        return False
    return bool(_INSTALL_ONLY.search(entry.get('url') or '')) or entry.get('build') in RELEASE_TAGS


def load():
    """The vendored catalogue: uv's key -> entry, entries exactly as uv publishes them."""
    with gzip.open(PATH, 'rt', encoding='utf-8') as handle:
        return json.load(handle)


def trim(text):
    """The vendored file's text from the full catalogue's: the kept entries, in uv's order and format."""
    data = json.loads(text)
    kept = dict((key, entry) for key, entry in data.items() if keep(entry))
    return json.dumps(kept, indent=2) + '\n'


def write(text, path=PATH):
    """gzip with no name and no time in the header, so the same input gives the same bytes."""
    buffer = io.BytesIO()
    with gzip.GzipFile(filename='', mode='wb', fileobj=buffer, compresslevel=9, mtime=0) as handle:
        handle.write(text.encode('utf-8'))
    with open(path, 'wb') as handle:
        handle.write(buffer.getvalue())


def main(argv):
    if len(argv) != 2:
        sys.stderr.write('usage: python %s FULL_DOWNLOAD_METADATA_JSON\n' % argv[0])
        return 2
    with open(argv[1], encoding='utf-8') as handle:
        full = handle.read()
    text = trim(full)
    write(text)
    print('%s: %d of %d entries, %d bytes (%d gzipped)' % (
        os.path.normpath(PATH), len(json.loads(text)), len(json.loads(full)), len(text), os.path.getsize(PATH)))
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))

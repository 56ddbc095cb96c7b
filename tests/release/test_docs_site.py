"""`make docs`: the antsibull-docs site builds offline with no error page and no Sphinx warning, has a
page for every plugin, role and guide, and the module's page renders in a real browser (headless
Chromium) with its options table and examples.
"""

import glob
import os
import shutil
import struct
import sys

import pytest

from release_kit import CHECKOUT, run

BROWSER = shutil.which('chromium') or shutil.which('chromium-browser')


def expected_pages():
    pages = ['index.html']
    for folder, kind in (('modules', 'module'), ('lookup', 'lookup')):
        pages += ['%s_%s.html' % (os.path.basename(p)[:-3], kind)
                  for p in glob.glob(os.path.join(CHECKOUT, 'plugins', folder, '[!_]*.py'))]
    pages += ['%s_filter.html' % os.path.basename(p)[:-4]
              for p in glob.glob(os.path.join(CHECKOUT, 'plugins', 'filter', '*.yml'))]
    pages += ['%s_role.html' % os.path.basename(p) for p in glob.glob(os.path.join(CHECKOUT, 'roles', '*'))]
    pages += ['guides/%s.html' % os.path.basename(p)[:-3] for p in glob.glob(os.path.join(CHECKOUT, 'docs', '*.md'))]
    return sorted(pages)


@pytest.fixture(scope='module')
def site(tmp_path_factory):
    if not BROWSER:
        pytest.skip('chromium is not installed (tools/bootstrap installs Debian\'s chromium package)')
    dest = tmp_path_factory.mktemp('docs') / 'site'
    png = dest.parent / 'module.png'
    proc = run([sys.executable, os.path.join(CHECKOUT, 'tools', 'docs.py'), str(dest), '--screenshot', str(png)],
               cwd=CHECKOUT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    complaints = [line for line in proc.stderr.splitlines()
                  if ('WARNING' in line or 'ERROR' in line) and '_protomatter' not in line]
    assert not complaints, proc.stderr
    return dest / 'html', png


def test_every_plugin_role_and_guide_has_a_page_and_none_is_an_error_page(site):
    html, dummy = site
    for page in expected_pages():
        with open(str(html / page)) as handle:
            text = handle.read()
        assert 'could not be parsed' not in text and 'Error while parsing' not in text, page


def test_module_page_renders_options_table_and_examples_in_chromium(site):
    html, png = site
    dom = run([BROWSER, '--headless', '--no-sandbox', '--disable-gpu', '--dump-dom',
               'file://' + str(html / 'pbs_python_module.html')]).stdout
    assert 'ansible-option-table' in dom
    for option in ('version', 'build', 'mirror', 'install_root', 'take_over_links'):
        assert 'id="parameter-%s"' % option in dom, option
    examples = dom[dom.index('id="examples"'):]
    assert 'highlight' in examples and 'pbs.python.pbs_python' in examples

    with open(str(png), 'rb') as handle:
        data = handle.read()
    assert data[:8] == b'\x89PNG\r\n\x1a\n'
    width, height = struct.unpack('>II', data[16:24])
    assert (width, height) == (1280, 1600)
    assert len(data) > 100000, 'a near-empty screenshot: %d bytes' % len(data)

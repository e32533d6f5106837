"""scons install and scons uninstall: copying files into a prefix, and taking
exactly them out again.

Every install writes a manifest, PREFIX/share/machvm/install-manifest.txt,
with one line per thing it put there:

    file /usr/local/bin/machvmfs
    link /usr/local/lib/libmachvm.so.0
    dir  /usr/local/include/machvm

`file` and `link` are what was copied or linked; `dir` is a directory the
install created (one that was there before is not listed, so it is never
removed).  Paths are final ones, without DESTDIR.  The manifest lists itself.
An install over an earlier one keeps the earlier manifest's directories.
uninstall reads the manifest under the same DESTDIR and PREFIX, removes every
file and link, then every listed directory that is empty, deepest first.
A Python module it removes takes along the caches Python made of it
(`__pycache__/<module>.*.pyc`, and the `__pycache__` folder once empty).
"""
import glob
import os
import shutil
import subprocess
import sys

MANIFEST = os.path.join('share', 'machvm', 'install-manifest.txt')


def manifest_path(prefix):
    return os.path.join(prefix, MANIFEST)


def _staged(destdir, path):
    """Where path (final, absolute) is written: under DESTDIR if one is given."""
    return destdir.rstrip('/') + path if destdir else path


def _read_manifest(path):
    entries = []
    with open(path) as f:
        for number, line in enumerate(f, 1):
            kind, _, target = line.rstrip('\n').partition(' ')
            target = target.strip()
            if kind not in ('file', 'link', 'dir') or not target.startswith('/'):
                raise ValueError('%s:%d: not a manifest line: %r' % (path, number, line))
            entries.append((kind, target))
    return entries


class Installer:
    """Collects what one install puts where, then does it."""

    def __init__(self, destdir, prefix):
        self.destdir = destdir
        self.prefix = prefix
        self.entries = []          # (kind, final path), in install order
        self.created = []          # directories made, final paths

    def _mkdirs(self, final_dir):
        missing = []
        d = final_dir
        while d != '/' and not os.path.isdir(_staged(self.destdir, d)):
            missing.append(d)
            d = os.path.dirname(d)
        if d == '/':        # the staging root itself is not the install's
            os.makedirs(_staged(self.destdir, '/'), exist_ok=True)
        for d in reversed(missing):
            os.mkdir(_staged(self.destdir, d), 0o755)
            os.chmod(_staged(self.destdir, d), 0o755)
            self.created.append(d)

    def copy(self, source, final, mode):
        """source (a built or source file) to the final path, with mode; a
        file already there is replaced by a rename, so a running program
        keeps its old copy."""
        self._mkdirs(os.path.dirname(final))
        staged = _staged(self.destdir, final)
        tmp = staged + '.installing'
        shutil.copyfile(source, tmp)
        os.chmod(tmp, mode)
        os.replace(tmp, staged)
        self.entries.append(('file', final))
        print('install: %s' % staged)

    def link(self, target, final):
        """A symbolic link final -> target (a name in the same directory)."""
        self._mkdirs(os.path.dirname(final))
        staged = _staged(self.destdir, final)
        if os.path.islink(staged) or os.path.exists(staged):
            os.unlink(staged)
        os.symlink(target, staged)
        self.entries.append(('link', final))
        print('install: %s -> %s' % (staged, target))

    def finish(self):
        """Writes the manifest (listing itself) and returns its staged path."""
        final = manifest_path(self.prefix)
        self._mkdirs(os.path.dirname(final))
        staged = _staged(self.destdir, final)
        dirs = list(self.created)
        if os.path.exists(staged):
            try:
                dirs = [t for k, t in _read_manifest(staged) if k == 'dir'] + dirs
            except ValueError:
                pass        # a damaged manifest: what this install made is still listed
        lines = ['%s %s' % e for e in self.entries] + ['file %s' % final]
        lines += ['dir %s' % d for d in dict.fromkeys(dirs)]
        with open(staged + '.installing', 'w') as f:
            f.write('\n'.join(lines) + '\n')
        os.chmod(staged + '.installing', 0o644)
        os.replace(staged + '.installing', staged)
        print('install: %s (what scons uninstall removes)' % staged)
        return staged


def uninstall(destdir, prefix):
    """Removes what the manifest under destdir/prefix lists; returns an exit
    status (1 with a message if there is no manifest)."""
    staged_manifest = _staged(destdir, manifest_path(prefix))
    try:
        entries = _read_manifest(staged_manifest)
    except FileNotFoundError:
        print('scons uninstall: %s is missing: nothing is installed there (the same '
              'PREFIX and DESTDIR as the install are needed)' % staged_manifest)
        return 1
    except (OSError, ValueError) as e:
        print('scons uninstall: %s' % e)
        return 1
    for kind, final in entries:
        if kind == 'dir':
            continue
        staged = _staged(destdir, final)
        if os.path.islink(staged) or os.path.exists(staged):
            os.unlink(staged)
            print('uninstall: removed %s' % staged)
        else:
            print('uninstall: %s was already gone' % staged)
        if kind == 'file' and staged.endswith('.py'):
            _remove_python_caches(staged)
    dirs = sorted({t for k, t in entries if k == 'dir'}, key=lambda d: d.count('/'),
                  reverse=True)
    for final in dirs:
        staged = _staged(destdir, final)
        try:
            os.rmdir(staged)
            print('uninstall: removed %s/' % staged)
        except FileNotFoundError:
            pass
        except OSError:
            print('uninstall: kept %s/: it holds files the install did not put there' % staged)
    return 0


def _remove_python_caches(module):
    """The byte-code caches Python wrote for an installed module (importing
    it as root writes them beside it), and their folder once it is empty."""
    cache = os.path.join(os.path.dirname(module), '__pycache__')
    stem = os.path.splitext(os.path.basename(module))[0]
    for pyc in glob.glob(os.path.join(glob.escape(cache), glob.escape(stem) + '.*.pyc')):
        os.unlink(pyc)
        print('uninstall: removed %s' % pyc)
    try:
        os.rmdir(cache)
    except OSError:
        pass


def python_dir(prefix, python='/usr/bin/python3'):
    """Where Debian's python3 finds packages installed under prefix:
    /usr/lib/python3/dist-packages for /usr, else
    PREFIX/lib/python3.X/dist-packages (X: the minor version of `python`,
    or of the Python running scons if there is none)."""
    if prefix.rstrip('/') == '/usr':
        return '/usr/lib/python3/dist-packages'
    try:
        version = subprocess.run([python, '-c', 'import sys; print("%d.%d" % sys.version_info[:2])'],
                                 capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        version = '%d.%d' % sys.version_info[:2]
    return os.path.join(prefix, 'lib', 'python' + version, 'dist-packages')


def write_script(source, target, pythondir):
    """tools/machvmctl as installed: its PYTHONDIR line names where the
    machvmfs package was installed."""
    with open(source) as f:
        text = f.read()
    if '\nPYTHONDIR = None\n' not in text:
        raise ValueError('%s: no "PYTHONDIR = None" line to fill in' % source)
    text = text.replace('\nPYTHONDIR = None\n', '\nPYTHONDIR = %r\n' % pythondir, 1)
    with open(target, 'w') as f:
        f.write(text)

"""The README's recipes run as pasted, in order, on a real mount.

The code blocks of the README's "Recipes" section (lines indented by four
spaces) are run in order in one bash, with /mnt/mvm replaced by the mount
point, one line a step.  Any step that fails fails the test, and so does a
step whose comment names its output (`cat .../share_mode   # cow`) when the
output is something else.  A step may fail on purpose only with `||`, which
then handles it; no other step may print an error.
"""
import os
import re
import subprocess

from machvm_paths import ROOT

README = os.path.join(ROOT, 'README.md')
SECTION = '## Recipes'
ERROR = re.compile(r'(error|denied|Bad address|No space|Invalid argument|No such|'
                   r'not permitted|command not found)', re.I)


def recipe_lines(text):
    """The command lines of the Recipes section's code blocks, in order."""
    assert SECTION in text, 'README.md has no %r section' % SECTION
    body = text.split(SECTION, 1)[1].split('\n## ', 1)[0]
    return [l[4:] for l in body.split('\n') if l.startswith('    ') and l.strip()]


def expected_output(line):
    """The output a step's trailing comment names (one word), or None."""
    m = re.search(r'\s#\s+(\S+)\s*$', line)
    return m.group(1) if m else None


def run_recipes(lines, mountpoint):
    """Runs the lines as one bash script; returns (exit status, outputs per
    step, the step that failed or None)."""
    script = ['set -uo pipefail', 'exec 2>&1']
    for i, line in enumerate(lines):
        script.append('echo "@@step %d"' % i)
        script.append(line.replace('/mnt/mvm', mountpoint))
        script.append('rc=$?; if [ $rc -ne 0 ]; then echo "@@failed %d $rc"; exit 1; fi' % i)
    r = subprocess.run(['bash', '-c', '\n'.join(script)], capture_output=True, text=True,
                       timeout=120, cwd='/')
    outputs, failed, cur = {}, None, None
    for out_line in r.stdout.split('\n'):
        m = re.match(r'^@@step (\d+)$', out_line)
        f = re.match(r'^@@failed (\d+) ', out_line)
        if m:
            cur = int(m.group(1))
            outputs[cur] = []
        elif f:
            failed = int(f.group(1))
        elif cur is not None:
            outputs[cur].append(out_line)
    return r.returncode, {k: '\n'.join(v).strip('\n') for k, v in outputs.items()}, failed


def problems(lines, mountpoint):
    rc, outputs, failed = run_recipes(lines, mountpoint)
    found = []
    if failed is not None:
        found.append('step %d failed: %s\n%s' % (failed, lines[failed], outputs.get(failed)))
    elif rc != 0:
        found.append('the recipes exited %d' % rc)
    for i, line in enumerate(lines):
        if i not in outputs:
            continue
        want = expected_output(line)
        if want is not None and outputs[i] != want:
            found.append('step %d: %s\n  printed %r, the comment says %r'
                         % (i, line, outputs[i], want))
        if '||' not in line and ERROR.search(outputs[i]):
            found.append('step %d: %s\n  printed an error: %s' % (i, line, outputs[i]))
    return found


def test_readme_recipes_run_in_order(mnt):
    with open(README) as f:
        lines = recipe_lines(f.read())
    assert len(lines) >= 12 and lines[0] == 'cd /mnt/mvm'
    found = problems(lines, mnt.path)
    assert not found, 'README.md recipes:\n' + '\n'.join(found)


def test_readme_last_error_recipe_names_the_cause(mnt):
    with open(README) as f:
        lines = recipe_lines(f.read())
    rc, outputs, failed = run_recipes(lines, mnt.path)
    assert failed is None, outputs
    [step] = [i for i, l in enumerate(lines) if 'last_error' in l]
    assert re.match(r"^dd: error writing '.*mem': Permission denied\n"
                    r"KERN_PROTECTION_FAILURE: tasks/\d+/mem: vm_write\(task \d+, 0x13000, 1\) "
                    r"failed: the page 0x13000 of task \d+ has protection r-- .*which does not "
                    r"allow -w-$", outputs[step]), outputs[step]


def test_a_broken_recipe_is_caught(mount_factory):
    """The recipes as they once were: the first left the page read-only that
    the second writes."""
    m = mount_factory()
    old = ['cd /mnt/mvm',
           'exec 3<>tasks/ctl; echo create >&3; read t <&3; exec 3>&-',
           'echo "allocate 0x10000 16K" > tasks/$t/ctl',
           'echo r-- > tasks/$t/regions/0x0000000000010000/protection',
           'printf parent | dd of=tasks/$t/mem bs=1 seek=$((0x10000)) conv=notrunc status=none',
           'cat tasks/$t/regions/0x0000000000010000/protection   # rw-']
    found = problems(old, m.path)
    assert found and found[0].startswith('step 4 failed'), found
    found = problems(old[:4] + old[5:], m.path)
    assert len(found) == 1 and "printed 'r--', the comment says 'rw-'" in found[0], found

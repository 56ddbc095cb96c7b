"""Set finished trees aside instead of deleting them while the benchmark runs.

Deleting a tree of a thousand files makes the next thousand file creations on the same ext4
file system slower: for a minute or more the inode allocator skips, one by one, inodes that were
freed recently (``recently_deleted`` in the kernel's ``find_inode_bit``), so an extractor timed
right after a deletion pays for it. ``perf`` on this machine showed most of ``tar xzf``'s system
time there. A rename costs nothing of the kind, so each run's tree is moved into one trash
directory, which is deleted once, after the last measurement.
"""

import itertools
import os


class Trash(object):
    def __init__(self, directory):
        self.directory = directory
        self._count = itertools.count()
        os.makedirs(directory, exist_ok=True)

    def discard(self, path):
        if os.path.lexists(path):
            os.rename(path, os.path.join(self.directory, '%d-%s' % (next(self._count), os.path.basename(path))))

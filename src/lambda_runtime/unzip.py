# unzip.py -- unpacks an uploaded function's zip for src/lambda.c, with
# Python's own zipfile module (no zip parser is written in hydrant).
#
#   /usr/bin/python3 -I unzip.py ZIP DESTDIR MAX_UNZIPPED_BYTES
#
# Every entry is checked before anything is written: an absolute name, a
# drive letter, a backslash or a ".." component (path traversal), or a
# symbolic link is refused, and so is a total unzipped size over the
# limit (AWS: 250 MB). Exit status: 0 unpacked; 2 not a valid zip file;
# 3 an entry refused (the reason on stderr); 4 unzipped size over the
# limit; 5 an I/O error. DESTDIR must exist and be empty.
import os
import stat
import sys
import zipfile


def refuse(code, msg):
    sys.stderr.write(msg + "\n")
    sys.exit(code)


def main():
    zpath, dest, limit = sys.argv[1], sys.argv[2], int(sys.argv[3])
    try:
        zf = zipfile.ZipFile(zpath)
        infos = zf.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as e:
        refuse(2, "not a zip file: %s" % e)
    total = 0
    for i in infos:
        name = i.filename
        parts = name.replace("\\", "/").split("/")
        if (name.startswith("/") or "\\" in name or ".." in parts or
                (len(name) > 1 and name[1] == ":") or "\0" in name):
            refuse(3, "zip entry '%s' is outside the function's directory" % name)
        if stat.S_ISLNK(i.external_attr >> 16):
            refuse(3, "zip entry '%s' is a symbolic link" % name)
        total += i.file_size
        if total > limit:
            refuse(4, "unzipped size over %d bytes" % limit)
    try:
        for i in infos:
            target = os.path.realpath(os.path.join(dest, i.filename))
            if not (target + os.sep).startswith(os.path.realpath(dest) + os.sep) and \
                    target != os.path.realpath(dest):
                refuse(3, "zip entry '%s' is outside the function's directory" % i.filename)
            zf.extract(i, dest)
            mode = (i.external_attr >> 16) & 0o777
            if mode and not i.is_dir():
                os.chmod(target, mode | 0o400)
    except (zipfile.BadZipFile, ValueError, NotImplementedError, RuntimeError) as e:
        refuse(2, "not a valid zip file: %s" % e)
    except OSError as e:
        refuse(5, "cannot unpack: %s" % e)


if __name__ == "__main__":
    main()

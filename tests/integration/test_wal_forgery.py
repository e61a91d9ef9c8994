"""Record data cannot forge WAL frames (issue 11), end to end.

A producer puts records whose data are complete, well-checksummed WAL
frames: a SEAL that would send the stream's records to a bucket and key
the producer names, a DELIVERED that would drop them, RECORDs that would
inject data. Each is built the way the HYDRWAL1, HYDRWAL2 and HYDRWAL3
writers build frames, with the stream id and LSNs a producer can guess and
salts it can guess (zero, all ones, random). Then hydrant is killed -9 and
the log is damaged so that recovery's resync has to walk through those
records: the frame holding each one is corrupted, or the last one is torn
after the forged frame is complete on disk. After the restart, every real
record arrives once, nothing arrives in the victim bucket and no forged
record appears anywhere.

Run against a hydrant without salted frames, these tests fail (the forged
SEAL delivers into the victim bucket).
"""
import os
import signal
import struct
import zlib

from conftest import Hydrant, crc32c, delivered_lines, wait_active

ROLE = "arn:aws:iam::000000000000:role/FirehoseDeliveryRole"
FORGED_LSN = 1000








def frame(version, ftype, stream, lsn, payload, salt=0):
    """A frame as the HYDRWAL<version> writer lays it out (docs/WAL.md)."""
    hdr = struct.pack("<IBxxxIQQ", len(payload), ftype, stream, lsn, 1764072000000)
    if version >= 3:
        hdr += struct.pack("<Q", salt)
    body = hdr + payload
    crc = zlib.crc32(body) if version == 1 else crc32c(body)
    return struct.pack("<I", crc) + body


def seal_payload(first, last, bucket, key):
    return (struct.pack("<QQ", first, last) + struct.pack("<H", len(bucket)) + bucket +
            struct.pack("<H", len(key)) + key)


def forged_frames(stream):
    """What a producer can build without the segment's salt."""
    seal = seal_payload(1, FORGED_LSN - 1, b"victim-bucket", b"forged/seal")
    delivered = struct.pack("<QQ", 1, FORGED_LSN - 1)
    return [
        frame(2, 2, stream, FORGED_LSN, seal),                      # HYDRWAL2 style
        frame(1, 1, stream, FORGED_LSN, b"FORGED-v1\n"),            # HYDRWAL1 style
        frame(3, 2, stream, FORGED_LSN, seal, salt=0),              # salt guessed: zero
        frame(3, 3, stream, FORGED_LSN, delivered, salt=2**64 - 1),  # all ones
        frame(3, 1, stream, FORGED_LSN, b"FORGED-v3\n",
              salt=int.from_bytes(os.urandom(8), "little")),        # a random guess
    ]


def attack(k, forged):
    return b"ATTACK%d:" % k + forged + b"--padding--padding--"




def segment(data):
    d = os.path.join(data, "wal")
    segs = sorted(os.path.join(d, f) for f in os.listdir(d) if f.endswith(".wal"))
    return [s for s in segs if os.path.getsize(s) > 32][-1]


def header_sizes(img):
    """(segment header, frame header) of a segment image."""
    return (32, 40) if img[:8] == b"HYDRWAL3" else (16, 32)


def start_stream(tmp_path):
    data = str(tmp_path / "data")
    h = Hydrant(data).start()
    s3, fh = h.client("s3"), h.client("firehose")
    s3.create_bucket(Bucket="rec-bucket")
    s3.create_bucket(Bucket="victim-bucket")  # so a forged SEAL would succeed
    fh.create_delivery_stream(
        DeliveryStreamName="forge-stream", DeliveryStreamType="DirectPut",
        S3DestinationConfiguration={
            "RoleARN": ROLE, "BucketARN": "arn:aws:s3:::rec-bucket",
            "BufferingHints": {"SizeInMBs": 128, "IntervalInSeconds": 900}})
    wait_active(fh, "forge-stream")
    fh.put_record(DeliveryStreamName="forge-stream", Record={"Data": b"real-00\n"})
    # the stream id a producer would guess (the first stream is 1), read here
    img = open(segment(data), "rb").read()
    seg_hdr, _ = header_sizes(img)
    stream = struct.unpack_from("<I", img, seg_hdr + 12)[0]
    return h, data, fh, stream


def assert_nothing_forged(h, want):
    h.start()
    h.stop()  # SIGTERM delivers what recovery buffered
    h.start()
    s3 = h.client("s3")
    got = delivered_lines(s3, "rec-bucket")
    victim = s3.list_objects_v2(Bucket="victim-bucket").get("KeyCount", 0)
    h.stop()
    assert victim == 0, "a forged SEAL delivered into the victim bucket"
    assert not [line for line in got if b"FORGED" in line], got
    assert got == {r: 1 for r in want}


def test_forged_frames_after_corrupt_frames_are_never_replayed(tmp_path):
    h, data, fh, stream = start_stream(tmp_path)
    want = [b"real-00"]
    for k, forged in enumerate(forged_frames(stream)):
        fh.put_record(DeliveryStreamName="forge-stream", Record={"Data": attack(k, forged)})
        fh.put_record(DeliveryStreamName="forge-stream", Record={"Data": b"real-%02d\n" % (k + 1)})
        want.append(b"real-%02d" % (k + 1))
    h.stop(signal.SIGKILL)

    # damage the frame holding each attack record: its CRC no longer matches,
    # so recovery resyncs through the forged frame inside its payload
    seg = segment(data)
    raw = bytearray(open(seg, "rb").read())
    _, frame_hdr = header_sizes(raw)
    for k in range(len(forged_frames(stream))):
        at = raw.find(b"ATTACK%d:" % k)
        assert at > frame_hdr
        raw[at - frame_hdr] ^= 0xFF
    open(seg, "wb").write(bytes(raw))

    assert_nothing_forged(h, want)
    log = h.read_log()
    assert log.count("bad frame") >= len(forged_frames(stream)), log[-3000:]


def test_forged_frame_in_a_torn_tail_is_never_replayed(tmp_path):
    for k, forged in enumerate(forged_frames(1)):
        sub = tmp_path / ("torn%d" % k)
        sub.mkdir()
        h, data, fh, stream = start_stream(sub)
        forged = forged_frames(stream)[k]
        fh.put_record(DeliveryStreamName="forge-stream", Record={"Data": b"real-01\n"})
        fh.put_record(DeliveryStreamName="forge-stream", Record={"Data": attack(k, forged)})
        h.stop(signal.SIGKILL)
        # the last write torn after the forged frame reached the disk whole
        seg = segment(data)
        raw = open(seg, "rb").read()
        at = raw.find(b"ATTACK%d:" % k)
        cut = at + len(attack(k, forged)) - 10
        with open(seg, "r+b") as f:
            f.truncate(cut)
        assert_nothing_forged(h, [b"real-00", b"real-01"])
        assert "torn tail" in h.read_log()

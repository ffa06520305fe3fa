"""HEIF/HEIC/AVIF suite: fixtures made here with heif-enc and exiftool (one per
leak channel, with canary strings), or rebuilt byte by byte from heif-enc
output by the test's own ISO BMFF writer (items in 'idat', 32-bit item IDs,
8-byte iloc fields, ICC profiles, user descriptions, vendor boxes, shared
extents, unsupported constructions). Every output is judged by exiftool
(harness.leaks), ImageMagick pixel digests (through libheif), heif-info,
idempotence and `unmeta check`.

Image sequences and tracks (a 'moov' beside the 'meta') are built from
heif-enc stills and ffmpeg movies (libaom AV1, x265, AAC) with user data,
dated headers, named handlers and a timed metadata track added here; their
packets are judged by ffmpeg streamhash and the still by avifdec (libavif's
tools, Debian libavif-bin) or ImageMagick, since libheif 1.15 reads no
sequence brand.

libheif 1.15's heif-enc does not tile large inputs: a 1024x1024 image is one
coded item, so grids here come from the writer below, not from heif-enc."""
import os
import struct

import harness

CANARIES = ["CANARY-MAKE", "CANARY-ARTIST", "CANARY-XMP-CREATOR"]


# ---- reading and writing ISO BMFF -------------------------------------------

def boxes(data, pos=0, end=None):
    """[(type, payload, offset)] of the boxes in data[pos:end]."""
    end = len(data) if end is None else end
    out = []
    while pos + 8 <= end:
        size, typ = struct.unpack(">I4s", data[pos:pos + 8])
        hdr = 8
        if size == 1:
            size, hdr = struct.unpack(">Q", data[pos + 8:pos + 16])[0], 16
        elif size == 0:
            size = end - pos
        assert size >= hdr and pos + size <= end, f"bad box {typ!r} at {pos}"
        out.append((typ, data[pos + hdr:pos + size], pos + hdr))
        pos += size
    return out


def box(typ, payload):
    return struct.pack(">I4s", 8 + len(payload), typ) + payload


def full(typ, version, flags, payload):
    return box(typ, struct.pack(">I", version << 24 | flags) + payload)


def child(payload_boxes, typ):
    found = [p for t, p, _ in payload_boxes if t == typ]
    return found[0] if found else None


class Heif:
    """A HEIF file as items, properties and references, parsed from the
    simple files heif-enc writes and written back with chosen encodings."""

    def __init__(self, data):
        top = boxes(data)
        assert top[0][0] == b"ftyp"
        self.ftyp = top[0][1]
        meta = child(top, b"meta")
        kids = boxes(meta, 4)
        self.primary = struct.unpack(">H", child(kids, b"pitm")[4:6])[0]
        self.items = {}    # id -> dict(type, name, extra, data, where)
        self.order = []
        iinf = child(kids, b"iinf")
        for t, p, _ in boxes(iinf, 6 if iinf[0] == 0 else 8):
            iid, _prot, typ = struct.unpack(">HH4s", p[4:12])
            self.items[iid] = {"type": typ, "rest": p[12:], "data": b"", "where": "mdat", "hidden": p[3] & 1}
            self.order.append(iid)
        idat = child(kids, b"idat") or b""
        iloc = child(kids, b"iloc")
        v = iloc[0]
        osz, lsz, bsz = iloc[4] >> 4, iloc[4] & 15, iloc[5] >> 4
        n = struct.unpack(">H", iloc[6:8])[0]
        pos = 8
        rd = lambda k: int.from_bytes(iloc[pos:pos + k], "big")
        for _ in range(n):
            iid = rd(2); pos += 2
            method = 0
            if v >= 1:
                method = rd(2) & 15; pos += 2
            pos += 2
            base = rd(bsz); pos += bsz
            ne = rd(2); pos += 2
            blob = b""
            for _ in range(ne):
                off = rd(osz); pos += osz
                ln = rd(lsz); pos += lsz
                src = data if method == 0 else idat
                blob += src[base + off:base + off + ln]
            self.items[iid]["data"] = blob
            self.items[iid]["where"] = "mdat" if method == 0 else "idat"
        self.refs = []     # (type, from, [to])
        iref = child(kids, b"iref")
        if iref:
            for t, p, _ in boxes(iref, 4):
                f, c = struct.unpack(">HH", p[:4])
                self.refs.append((t, f, list(struct.unpack(">%dH" % c, p[4:4 + 2 * c]))))
        iprp = boxes(child(kids, b"iprp"))
        self.props = [box(t, p) for t, p, _ in boxes(child(iprp, b"ipco"))]
        self.assoc = {}    # id -> [(index, essential)]
        ipma = child(iprp, b"ipma")
        big = ipma[3] & 1
        cnt = struct.unpack(">I", ipma[4:8])[0]
        pos = 8
        for _ in range(cnt):
            iid, na = struct.unpack(">HB", ipma[pos:pos + 3]); pos += 3
            lst = []
            for _ in range(na):
                if big:
                    a = struct.unpack(">H", ipma[pos:pos + 2])[0]; pos += 2
                    lst.append((a & 0x7fff, a >> 15))
                else:
                    lst.append((ipma[pos] & 0x7f, ipma[pos] >> 7)); pos += 1
            self.assoc[iid] = lst
        self.hdlr_name = b""
        self.meta_extra = []   # extra boxes in meta
        self.top_extra = []    # extra top-level boxes before mdat
        self.shared = {}       # id -> id whose mdat bytes it shares

    def add_item(self, iid, typ, data, where="mdat", rest=b"\0", hidden=0):
        self.items[iid] = {"type": typ, "rest": rest, "data": data, "where": where, "hidden": hidden}
        self.order.append(iid)

    def add_prop(self, prop_box, iids, first=False, essential=0):
        """Adds a property (optionally as number 1, shifting the others)
        and associates it with iids."""
        if first:
            self.props.insert(0, prop_box)
            for k in self.assoc:
                self.assoc[k] = [(i + 1 if i else 0, e) for i, e in self.assoc[k]]
            idx = 1
        else:
            self.props.append(prop_box)
            idx = len(self.props)
        for iid in iids:
            self.assoc.setdefault(iid, []).append((idx, essential))

    def write(self, wide=False, iloc_sizes=(4, 4, 0), ipma_big=False):
        """The file: ftyp, meta, extra boxes, mdat. wide: 32-bit item IDs
        (infe v3, iloc v2, iref v1, ipma v1, pitm v1)."""
        osz, lsz, bsz = iloc_sizes
        idw = 4 if wide else 2
        idf = ">I" if wide else ">H"
        infes = b""
        for iid in self.order:
            it = self.items[iid]
            infes += full(b"infe", 3 if wide else 2, it["hidden"],
                          struct.pack(idf, iid) + b"\0\0" + it["type"] + it["rest"])
        iinf = full(b"iinf", 0, 0, struct.pack(">H", len(self.order)) + infes)
        refs = b"".join(box(t, struct.pack(idf, f) + struct.pack(">H", len(to)) +
                            b"".join(struct.pack(idf, x) for x in to)) for t, f, to in self.refs)
        iref = full(b"iref", 1 if wide else 0, 0, refs) if self.refs else b""
        ipma_body = struct.pack(">I", len(self.assoc))
        for iid in sorted(self.assoc):
            lst = self.assoc[iid]
            ipma_body += struct.pack(idf, iid) + bytes([len(lst)])
            for i, e in lst:
                ipma_body += struct.pack(">H", e << 15 | i) if ipma_big else bytes([e << 7 | i])
        iprp = box(b"iprp", box(b"ipco", b"".join(self.props)) +
                   full(b"ipma", 1 if wide else 0, 1 if ipma_big else 0, ipma_body))
        idat = b"".join(self.items[i]["data"] for i in self.order if self.items[i]["where"] == "idat")
        hdlr = full(b"hdlr", 0, 0, b"\0" * 4 + b"pict" + b"\0" * 12 + self.hdlr_name + b"\0")
        pitm = full(b"pitm", 1 if wide else 0, 0, struct.pack(idf, self.primary))

        def build_iloc(mdat_start):
            body = bytes([osz << 4 | lsz, bsz << 4]) + struct.pack(">I" if wide else ">H", len(self.order))
            at_m, at_i = mdat_start, 0
            placed = {}
            for iid in self.order:
                it = self.items[iid]
                method = 1 if it["where"] == "idat" else 0
                if method == 0 and iid in self.shared:
                    off = placed[self.shared[iid]]
                elif method == 0:
                    off, at_m = at_m, at_m + len(it["data"])
                else:
                    off, at_i = at_i, at_i + len(it["data"])
                placed[iid] = off
                base = 16 if bsz and off >= 16 else 0
                body += struct.pack(idf, iid) + struct.pack(">H", method) + b"\0\0"
                body += base.to_bytes(bsz, "big") + struct.pack(">H", 1)
                body += (off - base).to_bytes(osz, "big") + len(it["data"]).to_bytes(lsz, "big")
            return full(b"iloc", 2 if wide else 1, 0, body)

        def build(mdat_start):
            meta = full(b"meta", 0, 0, hdlr + pitm + iinf + build_iloc(mdat_start) + iref + iprp +
                        (box(b"idat", idat) if idat else b"") + b"".join(self.meta_extra))
            return box(b"ftyp", self.ftyp) + meta + b"".join(self.top_extra)

        head = build(0)
        head = build(len(head) + 8)
        mdat = b"".join(self.items[i]["data"] for i in self.order
                        if self.items[i]["where"] == "mdat" and i not in self.shared)
        return head + box(b"mdat", mdat)


def exif_item(tiff):
    """An Exif item payload (23008-12 A.2.1): offset to the TIFF header."""
    return struct.pack(">I", 6) + b"Exif\0\0" + tiff


def tiff_canary():
    """Big-endian TIFF: Make, Artist and a GPS IFD with a latitude."""
    def ent(tag, typ, count, val):
        return struct.pack(">HHI", tag, typ, count) + val
    make, artist = b"CANARY-MAKE\0", b"CANARY-ARTIST\0"
    n = 3
    data_off = 8 + 2 + 12 * n + 4
    gps_off = data_off + len(make) + len(artist)
    ifd = struct.pack(">H", n)
    ifd += ent(0x010F, 2, len(make), struct.pack(">I", data_off))
    ifd += ent(0x013B, 2, len(artist), struct.pack(">I", data_off + len(make)))
    ifd += ent(0x8825, 4, 1, struct.pack(">I", gps_off))
    ifd += struct.pack(">I", 0)
    rat_off = gps_off + 2 + 24 + 4
    gps = struct.pack(">H", 2) + ent(1, 2, 2, b"N\0\0\0") + ent(2, 5, 3, struct.pack(">I", rat_off))
    gps += struct.pack(">I", 0) + struct.pack(">6I", 48, 1, 51, 1, 3000, 100)
    return b"MM\0*" + struct.pack(">I", 8) + ifd + make + artist + gps


XMP = (b'<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:ns:meta/">'
       b'<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description '
       b'xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:creator><rdf:Seq><rdf:li>CANARY-XMP-CREATOR'
       b'</rdf:li></rdf:Seq></dc:creator></rdf:Description></rdf:RDF></x:xmpmeta><?xpacket end="w"?>')


def icc_profile():
    """A small display profile with identifying header fields and a device
    manufacturer description tag (ICC.1:2010 7.2)."""
    def desc(s):
        return b"desc" + b"\0" * 4 + struct.pack(">I", len(s) + 1) + s + b"\0" + b"\0" * 78

    def xyz(x, y, z):
        return b"XYZ " + b"\0" * 4 + b"".join(struct.pack(">i", int(round(v * 65536))) for v in (x, y, z))
    tags = [(b"desc", desc(b"Test RGB")), (b"wtpt", xyz(0.9505, 1.0, 1.089)), (b"dmnd", desc(b"CANARY-ICC-MAKER"))]
    table = struct.pack(">I", len(tags))
    off = 128 + 4 + 12 * len(tags)
    blob = b""
    for sig, body in tags:
        body += b"\0" * (-len(body) % 4)
        table += sig + struct.pack(">II", off + len(blob), len(body))
        blob += body
    hdr = bytearray(128)
    struct.pack_into(">I", hdr, 0, 128 + len(table) + len(blob))
    hdr[4:8] = b"lcms"
    hdr[8:12] = b"\x02\x10\x00\x00"
    hdr[12:16] = b"mntr"
    hdr[16:20] = b"RGB "
    hdr[20:24] = b"XYZ "
    hdr[24:36] = struct.pack(">6H", 2021, 5, 4, 3, 2, 1)
    hdr[36:40] = b"acsp"
    hdr[40:44] = b"APPL"
    hdr[48:52] = b"GOOG"
    hdr[52:56] = b"PXL7"
    hdr[68:80] = struct.pack(">iii", 63190, 65536, 54061)
    hdr[80:84] = b"GOOG"
    return bytes(hdr) + table + blob


# ---- fixtures ----------------------------------------------------------------

def encode(t, name, avif=False, size="96x64", thumb=None):
    """An 8-bit image encoded by heif-enc (HEVC, or AV1 with avif)."""
    harness.need("heif-enc", "convert")
    png = t.path(name + ".png")
    harness.run(["convert", "-size", size, "gradient:red-blue", "-depth", "8", "-type", "TrueColor",
                 "PNG24:" + png], check=True)
    out = t.path(name + (".avif" if avif else ".heic"))
    args = ["heif-enc", "-q", "50"] + (["-A"] if avif else []) + (["-t", str(thumb)] if thumb else [])
    harness.run(args + [png, "-o", out], check=True)
    return out


def encode_alpha(t, name):
    """A 96x64 HEIC with an alpha plane (heif-enc writes it as an 'auxl'
    auxiliary image of type urn:mpeg:hevc:2015:auxid:1)."""
    harness.need("heif-enc", "convert")
    png = t.path(name + ".png")
    harness.run(["convert", "-size", "96x64", "gradient:red-blue", "-alpha", "set", "-channel", "A",
                 "-fx", "i/w", "-depth", "8", "PNG32:" + png], check=True)
    out = t.path(name + ".heic")
    harness.run(["heif-enc", "-q", "50", png, "-o", out], check=True)
    return out


def coded(t, name, size, seed):
    """The coded bytes and property boxes (hvcC, ispe...) of a noisy
    heif-enc image, an auxiliary image's payload. Its size (at least 64x64,
    below which heif-enc writes a grid) makes its hvcC and ispe its own;
    the noise makes its bytes its own."""
    harness.need("heif-enc", "convert")
    png = t.path(name + ".png")
    harness.run(["convert", "-seed", str(seed), "-size", size, "plasma:", "-colorspace", "gray", "-depth", "8",
                 "-type", "TrueColor", "PNG24:" + png], check=True)
    out = t.path(name + ".heic")
    harness.run(["heif-enc", "-q", "50", png, "-o", out], check=True)
    h = Heif(harness.read(out))
    assert len(h.items) == 1, f"heif-enc wrote {len(h.items)} items for {size}"
    it = h.items[h.primary]
    return it["data"], [h.props[i - 1] for i, _ in h.assoc[h.primary]]


def auxc(urn):
    return full(b"auxC", 0, 0, urn.encode() + b"\0")


def add_aux(h, iid, data, props, urn, master, typ=b"hvc1", where="mdat"):
    """Item iid as an auxiliary image of master: its own properties, an
    'auxC' naming urn, an 'auxl' reference."""
    h.add_item(iid, typ, data, where=where, hidden=1)
    for p in props:
        h.add_prop(p, [iid])
    h.add_prop(auxc(urn), [iid], essential=1)
    h.refs.append((b"auxl", iid, [master]))


def aux_types(path):
    """exiftool's AuxiliaryImageType values (one per auxiliary image)."""
    r = harness.run(["exiftool", "-a", "-s3", "-AuxiliaryImageType", path])
    return sorted(r.stdout.decode(errors="replace").split())


def add_exiftool_canaries(path):
    harness.need("exiftool")
    harness.run(["exiftool", "-q", "-overwrite_original", "-Make=CANARY-MAKE", "-Artist=CANARY-ARTIST",
                 "-GPSLatitude=48.8583", "-GPSLatitudeRef=N", "-GPSLongitude=2.2945", "-GPSLongitudeRef=E",
                 "-XMP-dc:Creator=CANARY-XMP-CREATOR", path], check=True)


def heif_info(path):
    harness.need("heif-info")
    r = harness.run(["heif-info", path])
    assert r.returncode == 0, f"heif-info rejects {path}: {r.stderr.decode(errors='replace')}"
    return r.stdout.decode(errors="replace")


def images(info):
    """heif-info's image, thumbnail and channel lines (not metadata)."""
    return [ln.strip() for ln in info.splitlines()
            if ln.strip().startswith(("image:", "thumbnail:", "alpha", "depth", "color profile"))]


def judge(t, src, out, *canaries, icc=True):
    """No leak (exiftool), no canary in the bytes, same pixels, heif-info
    reads the same images, idempotent, check clean."""
    t.assert_clean(out)
    t.assert_absent(out, *canaries)
    assert harness.pixels(src, frames=False) == harness.pixels(out, frames=False), "pixels changed"
    a, b = heif_info(src), heif_info(out)
    assert "metadata:\n  none" in b.replace("\r", ""), b
    ia, ib = images(a), images(b)
    if not icc:
        ia = [x for x in ia if not x.startswith("color profile")]
        ib = [x for x in ib if not x.startswith("color profile")]
    assert ia == ib, f"{ia} != {ib}"
    t.assert_idempotent(out)


def dirty(path):
    r = harness.unmeta("check", "-q", path)
    assert r.returncode == 1, f"check should call {path} dirty (exit {r.returncode})"


def inspect(path):
    r = harness.unmeta("inspect", path)
    assert r.returncode in (0, 1), f"inspect failed: {r.stderr.decode(errors='replace')}"
    return r.stdout.decode(errors="replace")


# ---- tests -------------------------------------------------------------------

def test_heic_exif_xmp_removed(t):
    src = encode(t, "cam")
    add_exiftool_canaries(src)
    assert harness.leaks(src), "the fixture has nothing to leak"
    dirty(src)
    report = inspect(src)
    assert "CANARY-MAKE" in report and "GPS" in report and "XMP" in report, report
    out = t.strip(src)
    judge(t, src, out, *CANARIES)
    assert b"Exif" not in harness.read(out) and b"rdf+xml" not in harness.read(out)


def test_avif_exif_xmp_removed(t):
    src = encode(t, "cam", avif=True)
    add_exiftool_canaries(src)
    dirty(src)
    out = t.strip(src)
    judge(t, src, out, *CANARIES)


def test_thumbnail_kept(t):
    for avif in (False, True):
        src = encode(t, "thumb", avif=avif, size="256x192", thumb=64)
        add_exiftool_canaries(src)
        assert "thumbnail:" in heif_info(src)
        out = t.strip(src)
        judge(t, src, out, *CANARIES)
        assert "thumbnail: 64x48" in heif_info(out)


def test_built_items_everywhere(t):
    """Exif in 'idat' (construction method 1), XMP and a 'uri ' item in
    mdat, a user description property, a handler name, vendor boxes, with
    32-bit item IDs and 8-byte iloc fields with base offsets."""
    src = encode(t, "base")
    for wide, sizes, big in ((False, (4, 4, 0), False), (True, (8, 8, 8), True)):
        h = Heif(harness.read(src))
        base = 70000 if wide else 100
        h.add_item(base, b"Exif", exif_item(tiff_canary()), where="idat")
        h.add_item(base + 1, b"mime", XMP, rest=b"\0application/rdf+xml\0")
        h.add_item(base + 2, b"uri ", b"CANARY-URI-PAYLOAD", rest=b"\0tag:example.com,CANARY-URI\0")
        h.refs += [(b"cdsc", base + i, [h.primary]) for i in range(3)]
        udes = full(b"udes", 0, 0, b"en\0CANARY-UDES-NAME\0CANARY-UDES-DESC\0tags\0")
        h.add_prop(udes, [h.primary], first=True)
        h.hdlr_name = b"CANARY-HANDLER"
        h.meta_extra.append(box(b"uuid", b"\x11" * 16 + b"CANARY-META-UUID"))
        h.top_extra.append(box(b"free", b"CANARY-FREE"))
        built = t.path(f"built{int(wide)}.heic")
        harness.write(built, h.write(wide=wide, iloc_sizes=sizes, ipma_big=big))
        info = heif_info(built)
        assert "Exif" in info and "XMP" in info, info
        report = inspect(built)
        for needle in ("CANARY-MAKE", "GPS", "CANARY-XMP-CREATOR", "uri", "UserDescription", "CANARY-HANDLER",
                       "VendorBox", "Padding"):
            assert needle in report, f"{needle} not in {report}"
        out = t.strip(built)
        judge(t, built, out, *CANARIES, "CANARY-URI", "CANARY-UDES", "CANARY-HANDLER", "CANARY-META-UUID",
              "CANARY-FREE", b"udes")
        top = [typ for typ, _, _ in boxes(harness.read(out))]
        assert top == [b"ftyp", b"meta", b"mdat"], top


def test_grid_in_idat_kept(t):
    """A 2x1 grid of two coded tiles (the grid's own data in 'idat'), with
    Exif describing the grid."""
    src = encode(t, "tile", size="64x64")
    h = Heif(harness.read(src))
    tile = h.primary
    h.add_item(2, b"hvc1", h.items[tile]["data"], hidden=1)
    h.shared[2] = tile  # both tiles read the same coded bytes
    h.items[tile]["hidden"] = 1
    h.assoc[2] = list(h.assoc[tile])
    # ImageGrid: version 0, flags 0 (16-bit sizes), rows-1, columns-1, width, height.
    h.add_item(3, b"grid", struct.pack(">BBBBHH", 0, 0, 0, 1, 128, 64), where="idat")
    h.add_prop(full(b"ispe", 0, 0, struct.pack(">II", 128, 64)), [3])
    h.refs.append((b"dimg", 3, [tile, 2]))
    h.primary = 3
    h.add_item(4, b"Exif", exif_item(tiff_canary()))
    h.refs.append((b"cdsc", 4, [3]))
    built = t.path("grid.heic")
    harness.write(built, h.write())
    assert "image: 128x64" in heif_info(built)
    out = t.strip(built)
    judge(t, built, out, "CANARY-MAKE", "CANARY-ARTIST")
    data = harness.read(out)
    coded = h.items[tile]["data"]
    assert data.count(coded) == 1, "a shared extent was copied twice"


def test_icc_neutralised_or_dropped(t):
    src = encode(t, "icc")
    h = Heif(harness.read(src))
    prof = icc_profile()
    # colr first, so dropping it renumbers every other association.
    h.add_prop(box(b"colr", b"prof" + prof), [h.primary], first=True)
    built = t.path("icc.heic")
    harness.write(built, h.write())
    assert "color profile: prof" in heif_info(built)
    dirty(built)
    out = t.strip(built)
    judge(t, built, out, "CANARY-ICC-MAKER", "GOOG", "PXL7")
    data = harness.read(out)
    assert b"prof" in data and b"acsp" in data and len(data) > len(prof)
    fields = {k.split(":")[-1]: v for k, v in harness.exif(out).items() if k.startswith("ICC_Profile:")}
    assert fields and fields.get("DeviceManufacturer") in (None, "", 0, "0"), fields
    stripped = t.strip(built, "--icc=strip", out=t.path("icc-strip.heic"))
    judge(t, built, stripped, "CANARY-ICC-MAKER", "acsp", icc=False)
    assert "color profile: no" in heif_info(stripped)
    t.assert_idempotent(stripped, "--icc=strip")


def test_rotation_and_mirror_kept(t):
    src = harness.shared_dir("corpus", "heif", "pillow__rot1mir0.avif")
    out = t.strip(src, out=t.path("rot.avif"))
    judge(t, src, out)
    props = [typ for typ, _, _ in boxes(harness.read(out))]
    data = harness.read(out)
    assert b"irot" in data and b"imir" in data, props


# ---- image sequences and tracks (a 'moov' beside the 'meta') ----------------

CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl", b"dinf", b"edts", b"udta"}
SEQ_CANARIES = ["CANARY-XYZ", "CANARY-DAY", "CANARY-HANDLER", "CANARY-TOOL", "CANARY-GPS-SAMPLE",
                "CANARY-META-HANDLER", "CANARY-FREE"]


def tree(data):
    """The boxes of data as [type, payload], payload a list for containers."""
    return [[typ, tree(p) if typ in CONTAINERS else p] for typ, p, _ in boxes(data)]


def flat(nodes):
    return b"".join(box(typ, flat(p) if isinstance(p, list) else p) for typ, p in nodes)


def kids(nodes, typ):
    return [p for t, p in nodes if t == typ]


def stamp_times(payload, when=3786912000):
    """mvhd/tkhd/mdhd (version 0) with creation and modification times set."""
    assert payload[0] == 0
    return payload[:4] + struct.pack(">II", when, when + 1) + payload[12:]


def qt_text(typ, text):
    """A QuickTime international text atom ((c)xyz, (c)day)."""
    b = text.encode()
    return box(typ, struct.pack(">HH", len(b), 0x15c7) + b)


def meta_track(track_id, chunk_off, sample):
    """A timed metadata track ('meta' handler, 'mett' entry) with one sample."""
    times = struct.pack(">II", 3786912000, 3786912000)
    tkhd = full(b"tkhd", 0, 1, times + struct.pack(">III", track_id, 0, 10) + b"\0" * 60)
    mdhd = full(b"mdhd", 0, 0, times + struct.pack(">II", 10, 10) + b"\x55\xc4\0\0")
    hdlr = full(b"hdlr", 0, 0, b"\0" * 4 + b"meta" + b"\0" * 12 + b"CANARY-META-HANDLER\0")
    dinf = box(b"dinf", full(b"dref", 0, 0, struct.pack(">I", 1) + full(b"url ", 0, 1, b"")))
    mett = box(b"mett", b"\0" * 6 + struct.pack(">H", 1) + b"\0" + b"application/x-canary\0")
    stbl = box(b"stbl", full(b"stsd", 0, 0, struct.pack(">I", 1) + mett)
               + full(b"stts", 0, 0, struct.pack(">III", 1, 1, 10))
               + full(b"stsc", 0, 0, struct.pack(">IIII", 1, 1, 1, 1))
               + full(b"stsz", 0, 0, struct.pack(">III", 0, 1, len(sample)))
               + full(b"stco", 0, 0, struct.pack(">II", 1, chunk_off)))
    minf = box(b"minf", full(b"nmhd", 0, 0, b"") + dinf + stbl)
    return [b"trak", tree(tkhd + box(b"mdia", mdhd + hdlr + minf))]


def shift_chunks(nodes, delta):
    """Moves every stco entry of a moov tree by delta."""
    for t, p in nodes:
        if isinstance(p, list):
            shift_chunks(p, delta)
    for i, (t, p) in enumerate(nodes):
        if t == b"stco":
            n = struct.unpack(">I", p[4:8])[0]
            offs = struct.unpack(f">{n}I", p[8:8 + 4 * n])
            nodes[i][1] = p[:8] + struct.pack(f">{n}I", *(o + delta for o in offs))


def with_track(still, movie, brand=None, dirty=True):
    """still (a heif-enc file: ftyp, meta, mdat) with the tracks of movie (an
    ffmpeg MP4) appended: a second mdat holding the movie's media data and,
    when dirty, a timed metadata sample; then the moov, cleaned of nothing
    and given a udta ((c)xyz, (c)day), a movie-level meta, set times and a
    metadata track; then a trailing 'free'. The still keeps its offsets;
    brand replaces the major brand in place."""
    top = boxes(movie)
    mdat = [(p, o) for t, p, o in top if t == b"mdat"][0]
    moov = tree(kids([(t, p) for t, p, _ in top], b"moov")[0])
    sample = b"CANARY-GPS-SAMPLE 48.8583 2.2945"
    payload_at = len(still) + 8
    shift_chunks(moov, payload_at - mdat[1])
    if dirty:
        for node in moov:
            if node[0] == b"mvhd":
                node[1] = stamp_times(node[1])
            if node[0] == b"trak":
                for k in node[1]:
                    if k[0] == b"tkhd":
                        k[1] = stamp_times(k[1])
                    if k[0] == b"mdia":
                        for m in k[1]:
                            if m[0] == b"mdhd":
                                m[1] = stamp_times(m[1])
        ilst = box(b"ilst", box(b"\xa9too", box(b"data", struct.pack(">II", 1, 0) + b"CANARY-TOOL")))
        moov.append([b"meta", b"\0" * 4 + full(b"hdlr", 0, 0, b"\0" * 4 + b"mdir" + b"\0" * 13) + ilst])
        moov.append([b"udta", [[b"\xa9xyz", qt_text(b"\xa9xyz", "+48.8583+002.2945/CANARY-XYZ")[8:]],
                               [b"\xa9day", qt_text(b"\xa9day", "2090-01-01 CANARY-DAY")[8:]]]])
        moov.append(meta_track(99, payload_at + len(mdat[0]), sample))
    data = bytearray(still)
    if brand:
        data[8:12] = brand
    extra = sample if dirty else b""
    return bytes(data) + box(b"mdat", mdat[0] + extra) + box(b"moov", flat(moov)) + \
        (box(b"free", b"CANARY-FREE") if dirty else b"")


def ff_movie(t, name, *args):
    harness.need("ffmpeg")
    out = t.path(name)
    harness.run(["ffmpeg", "-v", "error", "-y", *args, "-metadata", "creation_time=2090-01-01T00:00:00Z",
                 "-metadata:s:0", "handler_name=CANARY-HANDLER", out], check=True)
    return harness.read(out)


def av1_movie(t):
    return ff_movie(t, "seq.mp4", "-f", "lavfi", "-i", "testsrc=size=96x64:rate=10", "-frames:v", "5",
                    "-c:v", "libaom-av1", "-cpu-used", "8", "-pix_fmt", "yuv420p")


def streamhash(path):
    """md5 of every audio and video packet, as ffmpeg demuxes them."""
    harness.need("ffmpeg")
    r = harness.run(["ffmpeg", "-v", "error", "-i", path, "-map", "0:v?", "-map", "0:a?", "-c", "copy",
                     "-f", "streamhash", "-hash", "md5", "-"], check=True)
    assert r.stdout.strip(), f"ffmpeg finds no track in {path}"
    return r.stdout.decode()


def still_pixels(t, path, av1):
    """The primary image's pixels. Readers pick the track of a file whose
    major brand names a sequence, so a copy says 'avif'/'heic' instead
    (same length: offsets stay); AV1 is decoded by avifdec (libavif), HEVC
    by ImageMagick through libheif."""
    data = bytearray(harness.read(path))
    data[8:12] = b"avif" if av1 else b"heic"
    copy = t.path("still-" + os.path.basename(path) + (".avif" if av1 else ".heic"))
    harness.write(copy, bytes(data))
    if not av1:
        return harness.pixels(copy, frames=False)
    harness.need("avifdec", "convert")
    png = copy + ".png"
    harness.run(["avifdec", "-d", "16", copy, png], check=True)
    return harness.pixels(png, frames=False)


def seq_judge(t, src, out, av1=True, canaries=(), still=True):
    """A stripped file with tracks: no leak (zeroed header dates stay as
    fields), no canary, no user data, same packets, same still pixels,
    idempotent, check clean."""
    zero = [k for k, v in harness.exif(out).items() if str(v).startswith("0000:00:00")]
    t.assert_clean(out, allow=zero)
    t.assert_absent(out, *canaries)
    for k, v in harness.exif(out).items():
        group = k.split(":")[1] if k.count(":") >= 2 else ""
        assert group not in ("Keys", "ItemList", "UserData"), f"{out}: exiftool still finds {k}"
        if k.startswith("QuickTime:") and k.endswith("Date"):
            assert str(v).startswith("0000:00:00"), f"{k} = {v}"
        if k.endswith("HandlerDescription"):
            assert not str(v).strip(), f"{k} = {v}"
    assert streamhash(src) == streamhash(out), "track packets changed"
    if still:
        assert still_pixels(t, src, av1) == still_pixels(t, out, av1), "still image pixels changed"
    t.assert_idempotent(out)
    top = [typ for typ, _, _ in boxes(harness.read(out))]
    assert top.count(b"mdat") == 1 and b"moov" in top and b"free" not in top, top


def test_corpus_sequences(t):
    """Animated AVIF from other writers: one mdat shared by items and tracks,
    an alpha track ('auxv', tref 'auxl'), a trailing 'free'."""
    folder = harness.shared_dir("corpus", "modern", "avifseq")
    srcs = [os.path.join(folder, n) for n in sorted(os.listdir(folder))]
    # Refused before sequences were handled; the heif corpus has it too.
    star = os.path.join(harness.SHARED, "corpus", "heif", "fq__star-8bpc.avifs")
    if os.path.exists(star):
        srcs.append(star)
    assert srcs
    for src in srcs:
        name = os.path.basename(src)
        out = t.strip(src)
        seq_judge(t, src, out)
        tracks = lambda p: [x for x in kids(tree(harness.read(p)), b"moov")[0] if x[0] == b"trak"]
        assert len(tracks(src)) == len(tracks(out)) > 0, f"{name}: a track was lost"


def test_avif_sequence_cleaned(t):
    """heif-enc AVIF with Exif/XMP, plus an AV1 track (ffmpeg, libaom) with
    dated headers, a named handler, (c)xyz/(c)day user data, a movie-level
    meta, a timed metadata track and a trailing 'free'."""
    still = encode(t, "still", avif=True)
    add_exiftool_canaries(still)
    src = t.path("seq.avifs")
    harness.write(src, with_track(harness.read(still), av1_movie(t), brand=b"avis"))
    found = harness.exif(src)
    for needle in ("GPSCoordinates", "ContentCreateDate", "HandlerDescription", "Encoder"):
        assert any(k.endswith(needle) for k in found), f"exiftool does not see {needle} in the fixture: {found}"
    dirty(src)
    report = inspect(src)
    for needle in ("CANARY-HANDLER", "timed metadata", "48.858", "CANARY-TOOL", "CreationTime", "CANARY-MAKE"):
        assert needle in report, f"inspect does not say {needle}: {report}"
    out = t.strip(src)
    seq_judge(t, src, out, canaries=CANARIES + SEQ_CANARIES)
    moov = kids(tree(harness.read(out)), b"moov")[0]
    assert [x[0] for x in moov].count(b"trak") == 1 and not kids(moov, b"udta") and not kids(moov, b"meta"), \
        [x[0] for x in moov]


def test_heic_with_audio_track(t):
    """A HEIC still with an AAC track beside it (a 'soun' handler)."""
    still = encode(t, "still")
    add_exiftool_canaries(still)
    movie = ff_movie(t, "a.m4a", "-f", "lavfi", "-i", "sine=duration=0.5", "-c:a", "aac")
    src = t.path("audio.heic")
    harness.write(src, with_track(harness.read(still), movie))
    out = t.strip(src)
    seq_judge(t, src, out, av1=False, canaries=CANARIES + SEQ_CANARIES)
    assert images(heif_info(src)) == images(heif_info(out)), "heif-info reads other images"


def test_msf1_hevc_sequence(t):
    """An HEVC image sequence ('msf1' major brand) made from a heif-enc
    still and an x265 track."""
    still = encode(t, "still")
    movie = ff_movie(t, "h.mp4", "-f", "lavfi", "-i", "testsrc=size=96x64:rate=10", "-frames:v", "4",
                     "-c:v", "libx265", "-x265-params", "log-level=none", "-tag:v", "hvc1", "-pix_fmt", "yuv420p")
    src = t.path("seq.heics")
    harness.write(src, with_track(harness.read(still), movie, brand=b"msf1"))
    out = t.strip(src)
    seq_judge(t, src, out, av1=False, canaries=SEQ_CANARIES)
    # A sequence alone: no file-level meta, only ftyp, the tracks' mdat and moov.
    ftyp = harness.read(still)[:struct.unpack(">I", harness.read(still)[:4])[0]]
    alone = t.path("alone.heics")
    harness.write(alone, with_track(ftyp, movie, brand=b"msf1"))
    out = t.strip(alone)
    seq_judge(t, alone, out, av1=False, canaries=SEQ_CANARIES, still=False)
    assert [typ for typ, _, _ in boxes(harness.read(out))] == [b"ftyp", b"moov", b"mdat"]


def test_sequence_refusals(t):
    """What the MP4 rules refuse stays refused inside a HEIF, with a message."""
    still = harness.read(encode(t, "still", avif=True))
    movie = av1_movie(t)
    good = with_track(still, movie, brand=b"avis", dirty=False)
    top = boxes(good)
    moov_at = [o for typ, _, o in top if typ == b"moov"][0]
    head, tail = good[:moov_at], good[moov_at:]
    cmov = tree(kids([(x, p) for x, p, _ in top], b"moov")[0]) + [[b"cmov", b""]]
    cases = [
        # A compressed movie box.
        ("cmov.avifs", good[:moov_at - 8] + box(b"moov", flat(cmov)), "cmov"),
        # Media in another file (the track's data reference, not the meta's).
        ("dref.avifs", head + tail.replace(b"url \0\0\0\1", b"url \0\0\0\0", 1), "another file"),
        # Fragments.
        ("moof.avifs", good + box(b"moof", b""), "fragmented"),
        # Two movies.
        ("two.avifs", good + box(b"moov", b""), "two movie boxes"),
    ]
    # A chunk pointing outside every mdat (into the moov itself).
    stco = good.index(b"stco", moov_at)
    bad = bytearray(good)
    bad[stco + 12:stco + 16] = struct.pack(">I", moov_at)
    cases.append(("outside.avifs", bytes(bad), "outside"))
    # A metadata track whose sample is the still image's bytes: removing it
    # would remove image data.
    mdat_at = [o for typ, _, o in top if typ == b"mdat"][0]
    clash = tree(kids([(x, p) for x, p, _ in top], b"moov")[0])
    clash.append(meta_track(99, mdat_at, b"x" * 16))
    data = good[:moov_at - 8] + box(b"moov", flat(clash))
    cases.append(("clash.avifs", data, "share bytes"))
    for name, data, needle in cases:
        p = t.path(name)
        harness.write(p, data)
        msg = t.refuse(p)
        assert needle in msg and "HEIF" in msg, f"{name}: {msg}"


def test_broken_refused(t):
    src = encode(t, "ok")
    good = harness.read(src)
    h = Heif(good)
    # Cut short in the middle of the coded image, and in the meta box.
    for name, data in (("cut.heic", good[:-40]), ("cutmeta.heic", good[:60])):
        p = t.path(name)
        harness.write(p, data)
        msg = t.refuse(p)
        assert "HEIF" in msg, msg
    built = bytearray(h.write())
    top = boxes(bytes(built))
    meta_off = top[1][2]
    iloc_off = [o for typ, _, o in boxes(bytes(built), meta_off + 4, meta_off + len(top[1][1])) if typ == b"iloc"][0]
    # iloc v1: flags(4) sizes(2) count(2), then id(2) method(2) dref(2)...
    for name, at, val, needle in (("method2.heic", iloc_off + 8 + 2, b"\0\2", "construction method 2"),
                                  ("dref.heic", iloc_off + 8 + 4, b"\0\1", "another file"),
                                  ("past.heic", iloc_off + 8 + 8, b"\xff\xff", "past")):
        bad = bytearray(built)
        bad[at:at + 2] = val
        p = t.path(name)
        harness.write(p, bytes(bad))
        msg = t.refuse(p)
        assert needle in msg, f"{name}: {msg}"
    # A meta handler other than 'pict' is not an image.
    h.hdlr_name = b""
    bad = h.write().replace(b"pict", b"vide", 1)
    p = t.path("handler.heic")
    harness.write(p, bad)
    assert "pict" in t.refuse(p)


DEPTH = "urn:mpeg:hevc:2015:auxid:2"
ALPHA = "urn:mpeg:hevc:2015:auxid:1"
MATTE = "urn:com:apple:photo:2018:aux:portraiteffectsmatte"
SKIN = "urn:com:apple:photo:2019:aux:semanticskinmatte"
UNKNOWN = "tag:example.com,2026:aux:CANARY-AUX"


def aux_fixture(t):
    """An alpha HEIC with, besides its alpha plane: a depth map (100), a
    portrait matte (101) with a thumbnail of its own (110), a skin matte
    (102) sharing a thumbnail with the primary image (111), and an
    auxiliary image of unknown type that is a grid in 'idat' of two tiles
    (120: tiles 121, 122). Every auxiliary image has its own size, so its
    coded bytes and its hvcC and ispe properties are its own."""
    src = encode_alpha(t, "alpha")
    h = Heif(harness.read(src))
    p = h.primary
    parts = {}
    for iid, urn, size in ((100, DEPTH, "64x64"), (101, MATTE, "72x64"), (102, SKIN, "80x64")):
        data, props = coded(t, f"aux{iid}", size, iid)
        add_aux(h, iid, data, props, urn, p)
        parts[iid] = (data, props)
    for iid, of, size in ((110, [101], "64x72"), (111, [p, 102], "64x80")):
        data, props = coded(t, f"thumb{iid}", size, iid)
        h.add_item(iid, b"hvc1", data, hidden=1)
        for q in props:
            h.add_prop(q, [iid])
        h.refs.append((b"thmb", iid, of))
        parts[iid] = (data, props)
    tile, tprops = coded(t, "tile", "88x64", 121)
    for iid in (121, 122):
        h.add_item(iid, b"hvc1", tile, hidden=1)
        h.assoc[iid] = []
        for q in tprops:
            h.add_prop(q, [iid])
    h.shared[122] = 121
    add_aux(h, 120, struct.pack(">BBBBHH", 0, 0, 0, 1, 176, 64), [full(b"ispe", 0, 0, struct.pack(">II", 176, 64))],
            UNKNOWN, p, typ=b"grid", where="idat")
    h.refs.append((b"dimg", 120, [121, 122]))
    parts[121] = (tile, tprops)
    built = t.path("aux.heic")
    harness.write(built, h.write())
    return src, built, parts


def item_ids(path):
    return set(Heif(harness.read(path)).items)


def test_aux_mattes_and_depth_removed(t):
    src, built, parts = aux_fixture(t)
    # heif-info refuses the thumbnail of two images (libheif allows one);
    # exiftool lists every auxiliary image.
    assert aux_types(built) == sorted([ALPHA, DEPTH, MATTE, SKIN, UNKNOWN]), aux_types(built)
    dirty(built)
    report = inspect(built)
    for needle in ("DepthMap", "PortraitEffectsMatte", "SkinMatte", "AuxiliaryImage", "CANARY-AUX"):
        assert needle in report, f"{needle} not in {report}"
    assert "Alpha" not in report, report
    out = t.strip(built)
    assert aux_types(out) == [ALPHA], aux_types(out)
    kept = item_ids(out)
    src_ids = item_ids(built)
    assert kept == src_ids - {100, 101, 102, 110, 120, 121, 122}, kept
    # The thumbnail shared with the primary image stays, for the primary only.
    refs = Heif(harness.read(out)).refs
    assert (b"thmb", 111, [Heif(harness.read(out)).primary]) in refs, refs
    assert not [r for r in refs if {r[1], *r[2]} & {100, 101, 102, 110, 120, 121, 122}], refs
    t.assert_absent(out, DEPTH, MATTE, SKIN, "CANARY-AUX")
    for iid in (100, 101, 102, 110, 121):
        data, props = parts[iid]
        assert data not in harness.read(out), f"the bytes of item {iid} are still there"
        for q in props:
            if q[4:8] in (b"hvcC", b"ispe"):
                assert q not in harness.read(out), f"item {iid}'s {q[4:8]!r} is still there"
    info = heif_info(out)
    assert "alpha channel: yes" in info and "depth channel: no" in info, info
    assert "thumbnail: 64x80" in info, info
    # libheif reads no file with a thumbnail of two images, so the pixels
    # (alpha included) are compared with the heif-enc file the fixture grew
    # from: the same primary and alpha bytes.
    assert harness.pixels(src, frames=False) == harness.pixels(out, frames=False), "pixels changed"
    t.assert_clean(out)
    t.assert_idempotent(out)


def test_keep_depth(t):
    src, built, parts = aux_fixture(t)
    out = t.strip(built, "--keep-depth")
    assert aux_types(out) == sorted([ALPHA, DEPTH]), aux_types(out)
    assert 100 in item_ids(out) and not item_ids(out) & {101, 102, 110, 120, 121, 122}, item_ids(out)
    data = harness.read(out)
    assert parts[100][0] in data, "the depth map's bytes are gone"
    for iid in (101, 102, 110, 121):
        assert parts[iid][0] not in data, f"the bytes of item {iid} are still there"
    t.assert_absent(out, MATTE, SKIN, "CANARY-AUX")
    info = heif_info(out)
    assert "alpha channel: yes" in info and "depth channel: yes" in info, info
    assert harness.pixels(src, frames=False) == harness.pixels(out, frames=False), "pixels changed"
    # A depth map kept on request is still a second picture of the scene:
    # check reports it, with or without the flag, and inspect says kept.
    dirty(out)
    r = harness.unmeta("check", "-q", "--keep-depth", out)
    assert r.returncode == 1, r.returncode
    report = harness.unmeta("inspect", "--keep-depth", out).stdout.decode(errors="replace")
    assert "DepthMap" in report and "kept" in report, report
    t.assert_idempotent(out, "--keep-depth")
    # The batch path (-r) passes the option to its workers too.
    tree, dest = t.path("tree"), t.path("dest")
    os.mkdir(tree)
    os.mkdir(dest)
    harness.write(os.path.join(tree, "aux.heic"), harness.read(built))
    r = harness.unmeta("strip", "-r", "--keep-depth", "-d", dest, tree)
    assert r.returncode == 0, r.stderr.decode(errors="replace")
    assert harness.read(os.path.join(dest, "tree", "aux.heic")) == harness.read(out)
    # Without the flag, a second strip removes it.
    again = t.strip(out, out=t.path("nodepth.heic"))
    assert aux_types(again) == [ALPHA], aux_types(again)
    assert parts[100][0] not in harness.read(again)


def test_aux_needed_by_kept_image_refused(t):
    """A matte that the primary image needs (a grid tile here) cannot go
    without breaking the picture: refused, with a message naming it."""
    src = encode(t, "tile", size="64x64")
    h = Heif(harness.read(src))
    tile = h.primary
    h.add_item(2, b"hvc1", h.items[tile]["data"], hidden=1)
    h.shared[2] = tile
    h.items[tile]["hidden"] = 1
    h.assoc[2] = list(h.assoc[tile])
    h.add_prop(auxc(MATTE), [2])
    h.add_item(3, b"grid", struct.pack(">BBBBHH", 0, 0, 0, 1, 128, 64), where="idat")
    h.add_prop(full(b"ispe", 0, 0, struct.pack(">II", 128, 64)), [3])
    h.refs.append((b"dimg", 3, [tile, 2]))
    h.refs.append((b"auxl", 2, [tile]))
    h.primary = 3
    built = t.path("needed.heic")
    harness.write(built, h.write())
    msg = t.refuse(built)
    assert "PortraitEffectsMatte" in msg and "'dimg'" in msg, msg
    # An auxiliary image of unknown type that a kept image is derived from
    # (the gain-map input of a 'tmap', as Samsung writes) renders: kept.
    h = Heif(harness.read(src))
    h.add_item(2, b"hvc1", h.items[tile]["data"], hidden=1)
    h.shared[2] = tile
    h.assoc[2] = list(h.assoc[tile])
    h.add_prop(auxc("urn:com:example:photo:2026:aux:gainmap"), [2])
    h.refs.append((b"auxl", 2, [tile]))
    h.add_item(3, b"tmap", b"\0" * 8, where="idat", hidden=1)
    h.add_prop(full(b"ispe", 0, 0, struct.pack(">II", 64, 64)), [3])
    h.refs.append((b"dimg", 3, [tile, 2]))
    built = t.path("tmap.heic")
    harness.write(built, h.write())
    out = t.strip(built)
    assert {2, 3} <= item_ids(out), item_ids(out)
    assert aux_types(out) == ["urn:com:example:photo:2026:aux:gainmap"], aux_types(out)
    # An auxiliary image as the primary image is refused too.
    h = Heif(harness.read(src))
    h.add_prop(auxc(SKIN), [h.primary])
    built = t.path("primaryaux.heic")
    harness.write(built, h.write())
    assert "primary item" in t.refuse(built)


def test_aux_chain_bounded(t):
    """What goes with a removed matte is found level by level, at most
    --max-depth levels: a chain of 40 thumbnails of thumbnails is refused
    with the default 32 and stripped whole with 64."""
    src = encode(t, "chain", size="64x64")
    h = Heif(harness.read(src))
    p = h.primary
    # Not decoded: each item's bytes only need to be its own.
    h.add_item(2, b"hvc1", b"matte-bytes", hidden=1)
    h.assoc[2] = list(h.assoc[p])
    h.add_prop(auxc(MATTE), [2])
    h.refs.append((b"auxl", 2, [p]))
    for i in range(40):
        h.add_item(3 + i, b"hvc1", b"thumbnail-%d" % i, hidden=1)
        h.assoc[3 + i] = list(h.assoc[p])
        h.refs.append((b"thmb", 3 + i, [2 + i]))
    built = t.path("chain.heic")
    harness.write(built, h.write())
    assert "UNMETA_OPT_MAX_DEPTH" in t.refuse(built)
    out = t.strip(built, "--max-depth", "64")
    assert item_ids(out) == {p}, item_ids(out)
    t.assert_absent(out, "matte-bytes", "thumbnail-")


def test_apple_gain_map_kept(t):
    """An iPhone 15 Pro HEIC: its HDR gain map (an auxiliary image) stays,
    with the primary image's pixels."""
    src = harness.shared_dir("corpus", "modern", "heic", "photoprism__photoprism__iphone_15_pro.heic")
    gain = "urn:com:apple:photo:2020:aux:hdrgainmap"
    assert gain in aux_types(src), aux_types(src)
    out = t.strip(src, out=t.path("iphone.heic"))
    assert aux_types(out) == [gain], aux_types(out)
    assert harness.pixels(src, frames=False) == harness.pixels(out, frames=False), "pixels changed"
    t.assert_clean(out)


def test_clean_file_stays_clean(t):
    """A file with nothing to remove: check says clean before and after,
    and strip output is a fixed point."""
    src = encode(t, "plain")
    r = harness.unmeta("check", "-q", src)
    assert r.returncode == 0, f"a plain heif-enc file is called dirty: {inspect(src)}"
    out = t.strip(src)
    judge(t, src, out)


def test_samsung_motion_photo_mpvd_reported_and_removed(t):
    # Samsung's motion photo: the video is an MP4 in a top-level 'mpvd' box.
    src = harness.shared_dir("corpus", "modern", "motionphoto", "ente-io__motion_photos__motionphoto.heic")
    r = harness.unmeta("inspect", src)
    assert r.returncode == 0, r.stderr
    assert b"motion photo video, 2.0 s, audio" in r.stdout and b"[mpvd @" in r.stdout, r.stdout
    out = t.strip(src)
    assert b"mpvd" not in harness.read(out) and b"ftypmp42" not in harness.read(out)



def top_boxes(data):
    """[(type, offset, header, size)] of the top-level boxes."""
    out, pos = [], 0
    while pos < len(data):
        size, typ = struct.unpack(">I4s", data[pos:pos + 8])
        hdr = 8
        if size == 1:
            size, hdr = struct.unpack(">Q", data[pos + 8:pos + 16])[0], 16
        elif size == 0:
            size = len(data) - pos
        assert size >= hdr and pos + size <= len(data), f"box {typ!r} at {pos} does not fit"
        out.append((typ, pos, hdr, size))
        pos += size
    return out


def mpvd_video(t, path, name):
    """The MP4 inside the top-level 'mpvd' box, found by the box structure."""
    data = harness.read(path)
    boxes = [b for b in top_boxes(data) if b[0] == b"mpvd"]
    assert len(boxes) == 1, f"{path}: {len(boxes)} mpvd boxes"
    _, pos, hdr, size = boxes[0]
    out = t.path(name)
    harness.write(out, data[pos + hdr:pos + size])
    return out


def all_streams_hash(path):
    """SHA-256 of every stream's packets (data streams too)."""
    r = harness.run(["ffmpeg", "-v", "error", "-i", path, "-map", "0", "-c", "copy", "-f", "streamhash", "-"],
                    check=True)
    assert r.stdout.strip(), f"{path}: ffmpeg hashed no stream"
    return r.stdout


def test_keep_motion_samsung_mpvd(t):
    # The real Samsung file: the video stays, packet for packet, cleaned.
    harness.need("ffmpeg", "exiftool")
    src = harness.shared_dir("corpus", "modern", "motionphoto", "ente-io__motion_photos__motionphoto.heic")
    r = harness.unmeta("inspect", "--keep-motion", src)
    assert r.returncode == 0, r.stderr
    assert b"rewrite mpvd" in r.stdout and b"remove  movie udta" in r.stdout, r.stdout
    out = t.strip(src, "--keep-motion")
    boxes = [b[0] for b in top_boxes(harness.read(out))]
    assert boxes[-1] == b"mpvd" and b"mdat" in boxes, boxes
    vin, vout = mpvd_video(t, src, "in.mp4"), mpvd_video(t, out, "out.mp4")
    assert all_streams_hash(vout) == all_streams_hash(vin), "the video's packets changed"
    info = harness.exif(vout)
    bad = [k for k in info if any(w in k for w in ("GPS", "Location", "UserData", "Keys", "Samsung"))]
    assert not bad, f"the kept video still holds {bad}"
    dates = {k: v for k, v in info.items() if k.endswith("Date") and not k.startswith(("File:", "System:"))}
    assert dates and all(v == "0000:00:00 00:00:00" for v in dates.values()), dates
    assert b"sefd" not in harness.read(vout), "Samsung's sefd box stays in the video"
    # The still is untouched and the file has no GPS left.
    assert harness.pixels(out, frames=False) == harness.pixels(src, frames=False)
    assert not [k for k in harness.exif(out) if "GPS" in k]
    t.assert_idempotent(out, "--keep-motion")
    r = harness.unmeta("check", "--keep-motion", out)
    assert r.returncode == 1 and b"embedded" in r.stdout, (r.returncode, r.stdout)
    # The batch path (-r) passes the option to its workers too.
    tree, dest = t.path("tree"), t.path("dest")
    os.mkdir(tree)
    os.mkdir(dest)
    harness.write(os.path.join(tree, "m.heic"), harness.read(src))
    r = harness.unmeta("strip", "-r", "--keep-motion", "-d", dest, tree)
    assert r.returncode == 0, r.stderr.decode(errors="replace")
    assert harness.read(os.path.join(dest, "tree", "m.heic")) == harness.read(out)


def test_keep_motion_mpvd_absolute_offsets_refused(t):
    # Samsung's mpvd MP4 counts its chunk offsets from its own first byte.
    # The same file with offsets counted from the start of the HEIC is
    # refused with that said, never copied from the wrong bytes.
    src = harness.shared_dir("corpus", "modern", "motionphoto", "ente-io__motion_photos__motionphoto.heic")
    d = bytearray(harness.read(src))
    _, pos, hdr, size = [b for b in top_boxes(bytes(d)) if b[0] == b"mpvd"][0]
    at, patched = pos, 0
    while (at := d.find(b"stco", at, pos + size)) >= 0:
        n = struct.unpack(">I", d[at + 8:at + 12])[0]
        for k in range(n):
            o = at + 12 + 4 * k
            d[o:o + 4] = struct.pack(">I", struct.unpack(">I", d[o:o + 4])[0] + pos + hdr)
        patched += n
        at += 4
    assert patched, "no chunk offsets found to move"
    bad = t.path("absolute.heic")
    harness.write(bad, bytes(d))
    err = t.refuse(bad, "--keep-motion")
    assert "count from the video's first byte" in err, err
    assert b"mpvd" not in harness.read(t.strip(bad)), "without the option the video goes"

if __name__ == "__main__":
    harness.main(globals())

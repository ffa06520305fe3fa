package org.unmeta;

import java.io.FileDescriptor;
import java.io.FileInputStream;
import java.io.FileOutputStream;
import java.io.RandomAccessFile;
import java.lang.reflect.Field;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The JNI binding against the library just built, with plain assertions
 * (no test framework): bytes and descriptors give the same clean output,
 * canaries are gone, check/inspect agree, errors carry the library's codes,
 * closed objects are refused on the Java side, contexts run in parallel.
 * Usage: java -Djava.library.path=DIR --add-opens java.base/java.io=ALL-UNNAMED
 *        -cp CLASSES org.unmeta.UnmetaTest SAMPLE.jpg
 */
public final class UnmetaTest {
    private static int passed, failed;

    private static void check(boolean ok, String what) {
        if (ok) {
            passed++;
        } else {
            failed++;
            System.err.println("FAIL: " + what);
        }
    }

    private interface Body {
        void run() throws Exception;
    }

    private static void expectCode(int code, String what, Body body) {
        try {
            body.run();
            check(false, what + ": no exception");
        } catch (UnmetaException e) {
            check(e.getCode() == code, what + ": code " + e.getCode() + " (" + e.getMessage() + "), expected " + code);
            check(e.getMessage() != null && !e.getMessage().isEmpty(), what + ": empty message");
        } catch (Exception e) {
            check(false, what + ": " + e);
        }
    }

    private static void expect(Class<? extends Throwable> type, String what, Body body) {
        try {
            body.run();
            check(false, what + ": no exception");
        } catch (Throwable e) {
            check(type.isInstance(e), what + ": " + e);
        }
    }

    private static boolean contains(byte[] hay, String needle) {
        return indexOf(hay, needle.getBytes(StandardCharsets.UTF_8), 0) >= 0;
    }

    /** The int descriptor, as ParcelFileDescriptor.getFd() gives on Android. */
    private static int fdOf(FileDescriptor fd) throws Exception {
        Field f = FileDescriptor.class.getDeclaredField("fd");
        f.setAccessible(true);
        return f.getInt(fd);
    }

    private static int indexOf(byte[] hay, byte[] n, int from) {
        outer:
        for (int i = from; i + n.length <= hay.length; i++) {
            for (int j = 0; j < n.length; j++)
                if (hay[i + j] != n[j])
                    continue outer;
            return i;
        }
        return -1;
    }

    /**
     * A Google-layout motion photo (the clean sample with an XMP Container
     * directory, an MP4 with a location and a title appended): by default the
     * video goes; with OPT_KEEP_MOTION it stays, cleaned, with its packets.
     * ffmpeg makes the clip; without it the part is skipped, unless
     * UNMETA_REQUIRE_TOOLS=1.
     */
    private static void keepMotion(byte[] still) throws Exception {
        Path dir = Files.createTempDirectory("unmeta-jni-motion");
        Path clip = dir.resolve("clip.mp4");
        try {
            Process p;
            try {
                p = new ProcessBuilder("ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=s=64x48:r=10:d=1",
                                       "-c:v", "mpeg4", "-metadata", "location=+48.8583+002.2945/",
                                       "-metadata", "title=CANARY-MOTION", "-movflags", "use_metadata_tags",
                                       clip.toString()).inheritIO().start();
            } catch (java.io.IOException e) {
                boolean required = "1".equals(System.getenv("UNMETA_REQUIRE_TOOLS"));
                check(!required, "ffmpeg is needed for the motion photo test (UNMETA_REQUIRE_TOOLS=1)");
                System.out.println("jni: no ffmpeg, the motion photo part is skipped");
                return;
            }
            check(p.waitFor() == 0, "ffmpeg made the clip");
            byte[] video = Files.readAllBytes(clip);
            String xmp = "<x:xmpmeta xmlns:x=\"adobe:ns:meta/\"><rdf:RDF xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\">"
                + "<rdf:Description rdf:about=\"\" xmlns:GCamera=\"http://ns.google.com/photos/1.0/camera/\" "
                + "xmlns:Container=\"http://ns.google.com/photos/1.0/container/\" "
                + "xmlns:Item=\"http://ns.google.com/photos/1.0/container/item/\" GCamera:MotionPhoto=\"1\" "
                + "GCamera:MotionPhotoVersion=\"1\" GCamera:MotionPhotoPresentationTimestampUs=\"500000\">"
                + "<Container:Directory><rdf:Seq><rdf:li rdf:parseType=\"Resource\"><Container:Item "
                + "Item:Semantic=\"Primary\" Item:Mime=\"image/jpeg\"/></rdf:li><rdf:li rdf:parseType=\"Resource\">"
                + "<Container:Item Item:Semantic=\"MotionPhoto\" Item:Mime=\"video/mp4\" Item:Length=\"" + video.length
                + "\"/></rdf:li></rdf:Seq></Container:Directory></rdf:Description></rdf:RDF></x:xmpmeta>";
            byte[] body = ("http://ns.adobe.com/xap/1.0/\0" + xmp).getBytes(StandardCharsets.UTF_8);
            java.io.ByteArrayOutputStream b = new java.io.ByteArrayOutputStream();
            b.write(still, 0, 2);
            b.write(new byte[] { (byte) 0xFF, (byte) 0xE1, (byte) ((body.length + 2) >> 8), (byte) (body.length + 2) });
            b.write(body);
            b.write(still, 2, still.length - 2);
            b.write(video);
            byte[] photo = b.toByteArray();
            check(contains(photo, "CANARY-MOTION"), "the motion photo holds the clip's title");

            // The clip's packets: its mdat payload.
            byte[] mdatTag = "mdat".getBytes(StandardCharsets.US_ASCII);
            int at = indexOf(video, mdatTag, 0);
            check(at >= 4, "the clip has an mdat");
            long size = ((video[at - 4] & 0xFFL) << 24) | ((video[at - 3] & 0xFF) << 16) | ((video[at - 2] & 0xFF) << 8)
                | (video[at - 1] & 0xFF);
            byte[] packets = Arrays.copyOfRange(video, at + 4, (int) (at - 4 + size));

            try (Unmeta u = new Unmeta()) {
                byte[] plain = u.strip(photo);
                check(!contains(plain, "ftyp") && !contains(plain, "MotionPhoto") && !contains(plain, "CANARY-MOTION"),
                      "by default the motion photo's video is removed");
                u.setOption(Unmeta.OPT_KEEP_MOTION, 1);
                byte[] kept = u.strip(photo);
                check(contains(kept, "ftyp") && contains(kept, "MotionPhoto"), "OPT_KEEP_MOTION keeps the video and its XMP");
                check(!contains(kept, "CANARY-MOTION") && !contains(kept, "+48.8583"),
                      "the kept video is cleaned of its title and location");
                check(indexOf(kept, packets, 0) > 0, "the kept video's packets are the clip's, byte for byte");
                check(Arrays.equals(u.strip(kept), kept), "strip with OPT_KEEP_MOTION is idempotent");
                expectCode(UnmetaException.E_INVALID, "OPT_KEEP_MOTION takes 0 or 1", () -> u.setOption(Unmeta.OPT_KEEP_MOTION, 2));
                u.setOption(Unmeta.OPT_KEEP_MOTION, 0);
                check(Arrays.equals(u.strip(photo), plain), "OPT_KEEP_MOTION back to 0");
                // Depth maps are HEIF's; a JPEG strips the same either way.
                check(Unmeta.OPT_KEEP_DEPTH != Unmeta.OPT_KEEP_MOTION, "OPT_KEEP_DEPTH is its own key");
                u.setOption(Unmeta.OPT_KEEP_DEPTH, 1);
                check(Arrays.equals(u.strip(photo), plain), "OPT_KEEP_DEPTH leaves a JPEG's output alone");
                expectCode(UnmetaException.E_INVALID, "OPT_KEEP_DEPTH takes 0 or 1", () -> u.setOption(Unmeta.OPT_KEEP_DEPTH, -1));
            }
        } finally {
            Files.deleteIfExists(clip);
            Files.deleteIfExists(dir);
        }
    }

    public static void main(String[] args) throws Exception {
        byte[] sample = Files.readAllBytes(Paths.get(args[0]));
        String[] canaries = { "Ana Example", "Pixelphone", "PX7-004211-88", "holiday at home" };
        for (String c : canaries)
            check(contains(sample, c), "the sample holds " + c);

        byte[] clean;
        try (Unmeta u = new Unmeta()) {
            clean = u.strip(sample);
            check(clean.length > 0 && clean.length < sample.length, "strip shrinks the sample");
            for (String c : canaries)
                check(!contains(clean, c), "canary gone: " + c);
            check(Arrays.equals(u.strip(clean), clean), "strip is idempotent");
            check(u.check(sample), "check: the sample is dirty");
            check(!u.check(clean), "check: the output is clean");
            String json = u.inspectJson(sample);
            check(json.contains("\"format\":\"jpeg\"") && json.contains("GPSPosition"), "inspect JSON: " + json);
            check(u.inspectJson(clean).contains("\"dirty\":false"), "inspect of the output is clean");

            // Descriptors, as an Android app gets them from ParcelFileDescriptor.
            Path in = Files.createTempFile("unmeta-jni", ".jpg");
            Path out = Files.createTempFile("unmeta-jni", ".out.jpg");
            try {
                Files.write(in, sample);
                try (FileInputStream fi = new FileInputStream(in.toFile());
                     FileOutputStream fo = new FileOutputStream(out.toFile())) {
                    u.strip(fdOf(fi.getFD()), fdOf(fo.getFD()));
                }
                check(Arrays.equals(Files.readAllBytes(out), clean), "fd to fd gives the same bytes as memory");
                try (RandomAccessFile f = new RandomAccessFile(in.toFile(), "r")) {
                    check(u.check(fdOf(f.getFD())), "check(fd) of the sample");
                    f.seek(0);
                    check(u.inspectJson(fdOf(f.getFD())).contains("\"dirty\":true"), "inspectJson(fd)");
                }
            } finally {
                Files.deleteIfExists(in);
                Files.deleteIfExists(out);
            }

            // Errors carry the library's codes and messages.
            expectCode(UnmetaException.E_UNSUPPORTED, "not an image", () -> u.strip("hello".getBytes()));
            expectCode(UnmetaException.E_TRUNCATED, "truncated", () -> u.strip(Arrays.copyOf(sample, 3000)));
            expectCode(UnmetaException.E_TRUNCATED, "truncated check", () -> u.check(Arrays.copyOf(sample, 3000)));
            expectCode(UnmetaException.E_INVALID, "unknown option", () -> u.setOption(9999, 1));
            expectCode(UnmetaException.E_INVALID, "bad ICC value", () -> u.setOption(Unmeta.OPT_ICC, 7));
            expectCode(UnmetaException.E_IO, "closed descriptor", () -> u.check(987654));
            expect(NullPointerException.class, "null input", () -> u.strip(null));
            expect(IllegalArgumentException.class, "negative fd", () -> u.strip(-1, 1));
            // The context still works after errors.
            check(Arrays.equals(u.strip(sample), clean), "usable after errors");
            u.setOption(Unmeta.OPT_ICC, Unmeta.ICC_STRIP);
            check(Arrays.equals(u.strip(sample), clean), "ICC_STRIP on a file without ICC");
        }

        // Closed objects are refused before reaching native code.
        Unmeta closed = new Unmeta();
        closed.close();
        closed.close();
        expect(IllegalStateException.class, "use after close", () -> closed.strip(sample));
        expect(IllegalStateException.class, "option after close", () -> closed.setOption(Unmeta.OPT_ICC, 0));

        keepMotion(clean);

        // Constants come from the library.
        check(UnmetaException.E_TRUNCATED == -6 && Unmeta.constant("UNMETA_E_TRUNCATED") == -6, "E_TRUNCATED");
        expect(IllegalArgumentException.class, "unknown constant", () -> Unmeta.constant("UNMETA_NOPE"));
        check(Unmeta.version().matches("\\d+\\.\\d+\\.\\d+"), "version " + Unmeta.version());

        // One object per thread, in parallel.
        final byte[] want = clean;
        List<Thread> threads = new ArrayList<>();
        final int[] bad = { 0 };
        for (int t = 0; t < 6; t++) {
            Thread th = new Thread(() -> {
                try (Unmeta u = new Unmeta()) {
                    for (int i = 0; i < 40; i++)
                        if (!Arrays.equals(u.strip(sample), want))
                            synchronized (bad) { bad[0]++; }
                } catch (Exception e) {
                    synchronized (bad) { bad[0]++; }
                }
            });
            threads.add(th);
            th.start();
        }
        for (Thread th : threads)
            th.join();
        check(bad[0] == 0, "parallel contexts: " + bad[0] + " mismatches");

        System.out.println("jni: " + passed + " passed, " + failed + " failed (libunmeta " + Unmeta.version() + ")");
        System.exit(failed == 0 && passed > 0 ? 0 : 1);
    }
}

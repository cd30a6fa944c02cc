using System.Text.Json.Nodes;

namespace Tiny.Tests.Integration.Oci;

/// <summary>A tmpfs with tmpcopyup (podman's --read-only asks for it on /run, /tmp and /var/tmp) over a directory of a
/// read-only rootfs: the container finds the directory's files in it, writable, and the rootfs stays as it was.</summary>
public class OciTmpfsCopyTests
{
    const string Probe = "cd /data && stat -c '%n %A %u:%g %s' . * sub/*; readlink link; readlink abs; cat f sub/g; "
        + "echo new > f2 && touch sub/h && cat f2; touch /x 2>&1 | sed 's/.*: //'; "
        + "awk '$5 == \"/data\" { for (i = 7; $i != \"-\"; i++); print $5, $6, $(i + 1), $(i + 2) }' /proc/self/mountinfo";

    /// <summary>A copy of the busybox rootfs with /data holding a file of another owner, links, a directory and a set-user-ID file.</summary>
    static async Task<string> Rootfs()
    {
        var rootfs = Directory.CreateTempSubdirectory("tiny-copyup-rootfs-").FullName;
        var made = await Tiny.Exec("/bin/sh", ["-c", BusyboxRootfs.CopyCommand("\"$0\"") + " && cd \"$0\" && mkdir -p data/sub && echo hello > data/f && chmod 604 data/f "
            + "&& chown 1000:2000 data/f && ln -s f data/link && ln -s /etc/passwd data/abs && echo x > data/sub/g && chmod 4755 data/sub/g "
            + "&& chmod 750 data/sub && chmod 711 data", rootfs]);
        if (made.ExitCode == 0) return rootfs;
        Directory.Delete(rootfs, recursive: true);
        throw new InvalidOperationException(made.Stderr);
    }

    static string Listing(string dir) => string.Join('\n', Directory.EnumerateFileSystemEntries(dir, "*", SearchOption.AllDirectories).Order()
        .Select(p => $"{p} {File.GetUnixFileMode(p)} {(File.GetAttributes(p).HasFlag(FileAttributes.ReparsePoint) ? new FileInfo(p).LinkTarget : "")}"));

    [Test]
    public async Task The_tmpfs_holds_a_copy_of_the_directory_writable_on_a_read_only_root_as_under_runc_and_the_rootfs_is_untouched()
    {
        RuntimeUnderTest.Require("runc");
        var rootfs = await Rootfs();
        try
        {
            var before = Listing(rootfs);
            using var bundle = await OciBundle.Create(["sh", "-c", Probe], config =>
            {
                config["root"]!["path"] = rootfs;
                config["root"]!["readonly"] = true;
                config["mounts"]!.AsArray().Add(JsonNode.Parse(
                    """{"destination": "/data", "type": "tmpfs", "source": "tmpfs", "options": ["rw", "rprivate", "nosuid", "nodev", "tmpcopyup"]}"""));
            });
            var outputs = await RuntimeUnderTest.RunUnderBoth(bundle, "copyup");
            await Assert.That(outputs["tiny"].Stderr).IsEmpty();
            await Assert.That(outputs["tiny"].ExitCode).IsEqualTo(0);
            await Assert.That(outputs["tiny"].Stdout).IsEqualTo(
                ". drwx--x--x 0:0 120\nabs lrwxrwxrwx 0:0 11\nf -rw----r-- 1000:2000 6\nlink lrwxrwxrwx 0:0 1\nsub drwxr-x--- 0:0 60\n"
                + "sub/g -rwsr-xr-x 0:0 2\nf\n/etc/passwd\nhello\nx\nnew\nRead-only file system\n/data rw,nosuid,nodev,relatime tmpfs tmpfs\n");
            await Assert.That(outputs["tiny"].Stdout).IsEqualTo(outputs["runc"].Stdout);
            await Assert.That(Listing(rootfs)).IsEqualTo(before);
            await Assert.That(File.ReadAllText(Path.Combine(rootfs, "data", "f"))).IsEqualTo("hello\n");
            await Assert.That(File.ReadAllText("/proc/self/mountinfo")).DoesNotContain(rootfs);
        }
        finally
        {
            Directory.Delete(rootfs, recursive: true);
        }
    }

    [Test]
    public async Task A_missing_directory_gets_an_empty_tmpfs_and_a_file_there_is_refused_in_one_line()
    {
        Tiny.RequireRootAndBinary();
        var rootfs = await Rootfs();
        try
        {
            using var runtime = RuntimeUnderTest.Of("tiny");
            JsonNode CopyUp(string destination) =>
                JsonNode.Parse($$"""{"destination": "{{destination}}", "type": "tmpfs", "source": "tmpfs", "options": ["tmpcopyup"]}""")!;
            using var missing = await OciBundle.Create(["sh", "-c", "ls -A /new; stat -c %a /new"], config =>
            {
                config["root"]!["path"] = rootfs;
                config["mounts"]!.AsArray().Add(CopyUp("/new"));
            });
            var empty = await runtime.Run("run", "--bundle", missing.Path, runtime.NewId("copyup-missing"));
            await Assert.That(empty.Stderr).IsEmpty();
            await Assert.That(empty.Stdout).IsEqualTo("1777\n");
            using var file = await OciBundle.Create(["true"], config =>
            {
                config["root"]!["path"] = rootfs;
                config["mounts"]!.AsArray().Add(CopyUp("/data/f"));
            });
            var refused = await runtime.Run("run", "--bundle", file.Path, runtime.NewId("copyup-file"));
            await Assert.That(refused.ExitCode).IsEqualTo(125);
            await Assert.That(refused.Stderr).IsEqualTo("tiny: mount tmpfs on /data/f (tmpcopyup): open /data/f in the rootfs: not a directory\n");
        }
        finally
        {
            Directory.Delete(rootfs, recursive: true);
        }
    }
}

using System.Text.Json.Nodes;

namespace Tiny.Tests.Integration.Oci;

/// <summary>Regression tests for runc's container-escape CVEs, against tiny's OCI commands.</summary>
public class OciSafetyTests
{
    [Before(Test)]
    public void Require() => RuntimeUnderTest.Require("tiny");

    /// <summary>CVE-2024-21626: a cwd through /proc/self/fd/N reached a host directory by an fd open
    /// in the runtime. Here fd 3 is a host directory on purpose (--preserve-fds 1 hands it to the
    /// container), so a plain chdir would enter the host; tiny resolves the cwd inside the root with
    /// magic links refused.</summary>
    [Test]
    [Arguments("/proc/self/fd/3")]
    [Arguments("/proc/self/cwd")]
    public async Task A_cwd_through_a_proc_magic_link_is_refused_even_to_an_open_host_directory(string cwd)
    {
        using var runtime = RuntimeUnderTest.Of("tiny");
        using var bundle = await OciBundle.Create(["/bin/sh", "-c", "pwd; ls"], config => config["process"]!["cwd"] = cwd);
        var id = runtime.NewId("cwd");
        var hostDirectory = Directory.CreateTempSubdirectory("tiny-cve-host-").FullName;
        try
        {
            var result = await Tiny.Exec("/bin/sh", ["-c", "exec 3<\"$1\"; shift; exec \"$@\"", "sh", hostDirectory,
                runtime.Binary, "--root", runtime.Root, "run", "--preserve-fds", "1", "--bundle", bundle.Path, id]);
            await Assert.That(result.Stdout).IsEmpty();
            await Assert.That(result.ExitCode).IsEqualTo(125);
            await Assert.That(result.Stderr).IsEqualTo($"tiny: chdir to {cwd}: too many levels of symbolic links\n");
            await Assert.That((await runtime.Run("state", id)).Stderr).Contains("does not exist");
        }
        finally
        {
            Directory.Delete(hostDirectory);
        }
    }

    /// <summary>CVE-2021-30465: a mount destination that is (or passes through) a symlink in the rootfs
    /// must not put the mount on the host. tiny resolves destinations inside the rootfs.</summary>
    [Test]
    [NotInParallel("host-mounts")]
    public async Task A_mount_destination_through_a_symlink_stays_inside_the_rootfs()
    {
        using var runtime = RuntimeUnderTest.Of("tiny");
        var hostTarget = Directory.CreateTempSubdirectory("tiny-cve-target-").FullName;
        // A rootfs of its own, with just /bin/true (busybox runs the applet its name names).
        var rootfs = Directory.CreateTempSubdirectory("tiny-cve-rootfs-").FullName;
        try
        {
            Directory.CreateDirectory(Path.Combine(rootfs, "bin"));
            File.Copy(Path.Combine(BusyboxRootfs.Path, "bin", "busybox"), Path.Combine(rootfs, "bin", "true"));
            File.CreateSymbolicLink(Path.Combine(rootfs, "escape"), hostTarget);
            using var bundle = await OciBundle.Create(["/bin/true"], config =>
            {
                config["root"]!["path"] = rootfs;
                var mounts = config["mounts"]!.AsArray();
                mounts.Add(new JsonObject
                {
                    ["destination"] = "/escape", ["type"] = "tmpfs", ["source"] = "tmpfs", ["options"] = new JsonArray("nosuid"),
                });
            });
            var mountsBefore = Tiny.HostMounts();
            var result = await runtime.Run("run", "--bundle", bundle.Path, runtime.NewId("link"));
            await Assert.That(result.ExitCode).IsEqualTo(0);
            await Assert.That(Tiny.HostMounts()).IsEqualTo(mountsBefore);
            await Assert.That(Directory.EnumerateFileSystemEntries(hostTarget)).IsEmpty();
        }
        finally
        {
            Directory.Delete(hostTarget);
            Directory.Delete(rootfs, recursive: true);
        }
    }
}

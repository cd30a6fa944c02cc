using System.Security.Cryptography;
using System.Text.Json.Nodes;

namespace Tiny.Tests.Integration.Oci;

/// <summary>
/// CVE-2019-5736: a container process opened the runtime's binary through /proc/PID/exe while the runtime ran
/// inside the container, and once the runtime had exited reopened that fd for writing and overwrote the binary
/// on the host. The attack runs here against a copy of tiny, so a failure cannot damage the build.
/// </summary>
public class OciExecBinaryTests
{
    /// <summary>The container's init: it watches /proc for any process whose exe is not busybox (the process
    /// tiny exec starts before it execs, and a tiny the container has made the kernel run), opens its exe
    /// read-only, then releases that tiny, waits for it to exit and reopens the fd for writing.</summary>
    const string Attacker = """
        found=
        # Watched for a minute, not a number of rounds: on a loaded machine the exec may come late.
        end=$(( $(date +%s) + 60 ))
        while [ "$(date +%s)" -lt "$end" ]; do
          for p in /proc/[0-9]*; do
            pid=${p#/proc/}
            [ "$pid" = 1 ] || [ "$pid" = $$ ] && continue
            exe=$(readlink $p/exe 2>/dev/null) || continue
            case "$exe" in /bin/busybox|"") continue;; esac
            (: <$p/exe) 2>/dev/null || continue
            exec 3<$p/exe
            echo "opened $exe" >>/out/log
            found=1
            break 2
          done
        done
        [ -n "$found" ] || { echo "nothing found" >>/out/log; exit 0; }
        cat /out/block >/dev/null
        for try in $(seq 1 100); do
          if (exec 4<>/proc/self/fd/3 && echo pwned >&4) 2>>/out/log; then echo wrote >>/out/log; break; fi
          sleep 0.05
        done
        echo done >>/out/log
        """;

    [Test]
    public async Task A_container_cannot_overwrite_tiny_through_an_exec_process()
    {
        RuntimeUnderTest.Require("tiny");
        var work = Directory.CreateTempSubdirectory("tiny-cve-5736-").FullName;
        try
        {
            var copy = Path.Combine(work, "tiny");
            File.Copy(Tiny.Binary, copy);
            File.SetUnixFileMode(copy, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute
                | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
            var before = SHA256.HashData(File.ReadAllBytes(copy));
            var shared = Directory.CreateDirectory(Path.Combine(work, "out")).FullName;
            File.WriteAllText(Path.Combine(shared, "attack.sh"), Attacker);
            // What the container put where an administrator's `exec` will run it: the kernel runs the interpreter
            // /proc/self/exe, which is whatever binary the exec'ing process is (the CVE's malicious /bin/sh). tiny's
            // --log on a FIFO keeps that tiny waiting until the attacker has its exe open.
            File.WriteAllText(Path.Combine(shared, "evil"), "#!/proc/self/exe --log=/out/block\n");
            File.SetUnixFileMode(Path.Combine(shared, "evil"), UnixFileMode.UserRead | UnixFileMode.UserExecute | UnixFileMode.UserWrite);
            await Tiny.Exec("/usr/bin/mkfifo", [Path.Combine(shared, "block")]);

            // The build's tiny makes and removes the container; only the exec is the copy's.
            using var runtime = RuntimeUnderTest.Of("tiny");
            using var bundle = await OciBundle.Create(["/bin/sh", "/out/attack.sh"], config => config["mounts"]!.AsArray().Add(new JsonObject
            {
                ["destination"] = "/out", ["type"] = "bind", ["source"] = shared, ["options"] = new JsonArray("rbind", "rw"),
            }));
            var id = runtime.NewId("cve5736");
            await Assert.That((await runtime.Detached("create", "--bundle", bundle.Path, id)).ExitCode).IsEqualTo(0);
            await Assert.That((await runtime.Run("start", id)).ExitCode).IsEqualTo(0);
            await Tiny.Exec(copy, ["--root", runtime.Root, "exec", id, "/out/evil"], timeout: TimeSpan.FromSeconds(60));
            var stopped = await runtime.WaitForStatus(id, "stopped");
            var log = Path.Combine(shared, "log");
            var seen = File.Exists(log) ? File.ReadAllText(log) : "";
            await Assert.That((string?)stopped["status"]).IsEqualTo("stopped");

            // The FIFO holds the container's tiny until the attacker has opened its exe: the attack always gets that far.
            await Assert.That(seen).Contains("opened");
            await Assert.That(seen).Contains("Read-only file system");
            await Assert.That(seen).DoesNotContain("wrote");
            await Assert.That(seen).Contains("done");
            await Assert.That(SHA256.HashData(File.ReadAllBytes(copy))).IsEquivalentTo(before);
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }
    }

    [Test]
    public async Task A_bundles_command_whose_interpreter_is_proc_self_exe_never_runs_tinys_binary()
    {
        RuntimeUnderTest.Require("tiny");
        using var runtime = RuntimeUnderTest.Of("tiny");
        var shared = Directory.CreateTempSubdirectory("tiny-cve-5736-").FullName;
        try
        {
            // tiny's binary as the interpreter would print its usage (it is given "--version /out/evil"); the exec
            // trampoline refuses, silently, with status 1.
            File.WriteAllText(Path.Combine(shared, "evil"), "#!/proc/self/exe --version\n");
            File.SetUnixFileMode(Path.Combine(shared, "evil"), UnixFileMode.UserRead | UnixFileMode.UserExecute);
            using var bundle = await OciBundle.Create(["/out/evil"], config => config["mounts"]!.AsArray().Add(new JsonObject
            {
                ["destination"] = "/out", ["type"] = "bind", ["source"] = shared, ["options"] = new JsonArray("rbind", "ro"),
            }));
            var run = await runtime.Run("run", "--bundle", bundle.Path, runtime.NewId("cve5736-run"));
            await Assert.That(run.Stdout).IsEmpty();
            await Assert.That(run.Stderr).IsEmpty();
            await Assert.That(run.ExitCode).IsEqualTo(1);
        }
        finally
        {
            Directory.Delete(shared, recursive: true);
        }
    }
}

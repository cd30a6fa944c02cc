using System.Diagnostics;
using System.Runtime.CompilerServices;
using Tiny.Runtime.Seccomp;
using Tiny.Runtime.Security;

namespace Tiny.Tests.Integration.Seccomp;

/// <summary>
/// The built-in program in the real kernel, without tiny run: a python3 child sets no_new_privs, loads the bytes
/// SeccompPolicy.ProgramFor gives with prctl(PR_SET_SECCOMP), and makes syscalls (load-filter.py).
/// </summary>
public class KernelFilterTests
{
    const int EPERM = 1, EBADF = 9, ENOSYS = 38;

    static async Task<Dictionary<string, string>> RunUnderFilter(byte[] program, params string[] calls)
    {
        var file = Path.GetTempFileName();
        try
        {
            await File.WriteAllBytesAsync(file, program);
            var start = new ProcessStartInfo("/usr/bin/python3", [Script(), file, .. calls])
            {
                RedirectStandardOutput = true, RedirectStandardError = true,
            };
            using var process = Process.Start(start)!;
            var output = await process.StandardOutput.ReadToEndAsync();
            var error = await process.StandardError.ReadToEndAsync();
            await process.WaitForExitAsync();
            if (process.ExitCode != 0) throw new InvalidOperationException($"load-filter.py exited {process.ExitCode}: {error}");
            return output.Split('\n', StringSplitOptions.RemoveEmptyEntries)
                .Select(line => line.Split(' ')).ToDictionary(parts => parts[0], parts => parts[1]);
        }
        finally
        {
            File.Delete(file);
        }
    }

    static string Script([CallerFilePath] string source = "") => Path.Combine(Path.GetDirectoryName(source)!, "load-filter.py");

    static string Call(string name, string arg = "") =>
        (SyscallTable.TryGetNumber(SyscallArch.X86_64, name, out var nr) ? nr.ToString() : throw new ArgumentException(name))
        + (arg.Length > 0 ? ":" + arg : "");

    [Test]
    public async Task Kernel_accepts_the_default_program_and_denies_as_docker_does()
    {
        var program = SeccompPolicy.ProgramFor(null, CapabilitySet.DockerDefault)!;
        var unshare = Call("unshare", "0x20000"); // CLONE_NEWNS
        var mount = Call("mount");
        var keyctl = Call("keyctl");
        var clone3 = Call("clone3");
        var personality = Call("personality", "0xffff");
        var getpid = Call("getpid");
        var results = await RunUnderFilter(program, unshare, mount, keyctl, clone3, personality, "468", getpid);
        await Assert.That(results["seccomp"]).IsEqualTo("2");
        await Assert.That(results[unshare]).IsEqualTo(EPERM.ToString());
        await Assert.That(results[mount]).IsEqualTo(EPERM.ToString());
        await Assert.That(results[keyctl]).IsEqualTo(EPERM.ToString());
        await Assert.That(results[clone3]).IsEqualTo(ENOSYS.ToString());
        await Assert.That(results[personality]).IsEqualTo(EPERM.ToString());
        await Assert.That(results["468"]).IsEqualTo(ENOSYS.ToString());
        await Assert.That(results[getpid]).IsEqualTo("0");
    }

    [Test]
    public async Task Kernel_accepts_programs_compiled_at_run_time()
    {
        var program = SeccompPolicy.ProgramFor(null, CapabilitySet.DockerDefault.With(Capability.SysAdmin))!;
        var personality = Call("personality", "0xffffffff"); // allowed: a query that changes nothing
        var setns = Call("setns", "0xffffffff"); // allowed with CAP_SYS_ADMIN: fd -1 then fails with EBADF
        var keyctl = Call("keyctl");
        var results = await RunUnderFilter(program, personality, setns, keyctl);
        await Assert.That(results["seccomp"]).IsEqualTo("2");
        await Assert.That(results[personality]).IsEqualTo("0");
        await Assert.That(results[setns]).IsEqualTo(EBADF.ToString());
        await Assert.That(results[keyctl]).IsEqualTo(EPERM.ToString());
    }
}

using System.Diagnostics;

namespace Tiny.Tests.Integration;

/// <summary>The published tiny binary (artifacts/tiny, or $TINY_BINARY), run as a user would run it.</summary>
public static class Tiny
{
    public sealed record Result(int ExitCode, string Stdout, string Stderr);

    public static string RepositoryRoot { get; } = FindRepositoryRoot();

    public static string Binary { get; } =
        Environment.GetEnvironmentVariable("TINY_BINARY") is { Length: > 0 } path ? path : Path.Combine(RepositoryRoot, "artifacts", "tiny");

    public static bool IsRoot => Environment.UserName == "root";

    /// <summary>Skips the calling test unless it runs as root with the binary and a static busybox present.</summary>
    public static void RequireRootAndBinary()
    {
        Skip.Unless(IsRoot, "integration tests run containers and need root");
        Skip.Unless(File.Exists(Binary), $"{Binary} is missing: run ./publish.sh");
        Skip.Unless(BusyboxRootfs.Available, "a static /bin/busybox is needed (apt-get install busybox-static)");
    }

    public static Task<Result> Run(params string[] args) => Exec(Binary, args);

    /// <summary>`tiny run --rootfs BUSYBOX [options] -- COMMAND...`</summary>
    public static Task<Result> RunInBusybox(string[] options, params string[] command) =>
        Run(["run", "--rootfs", BusyboxRootfs.Path, .. options, "--", .. command]);

    public static Task<Result> Sh(string script, params string[] options) => RunInBusybox(options, "/bin/sh", "-c", script);

    public static Task<Result> ExecWithInput(string file, IEnumerable<string> args, string input) => Exec(file, args, input: input);

    public static async Task<Result> Exec(string file, IEnumerable<string> args, TimeSpan? timeout = null, string input = "")
    {
        using var process = Start(file, args, input);
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(60));
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{file} {string.Join(' ', args)} did not finish");
        }
        return new Result(process.ExitCode, await stdout, await stderr);
    }

    /// <summary>Starts <paramref name="file"/> with stdout and stderr captured and <paramref name="input"/> as all of its stdin.</summary>
    public static Process Start(string file, IEnumerable<string> args, string input = "")
    {
        var info = new ProcessStartInfo(file)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (var arg in args) info.ArgumentList.Add(arg);
        var process = Process.Start(info)!;
        process.StandardInput.Write(input);
        process.StandardInput.Close();
        return process;
    }

    public static string UniqueName(string prefix) => $"{prefix}-{Guid.NewGuid().ToString("N")[..8]}";

    /// <summary>cgroup directories named tiny-NAME anywhere under /sys/fs/cgroup.</summary>
    public static string[] CgroupDirectoriesOf(string name) =>
        Directory.EnumerateDirectories("/sys/fs/cgroup", $"tiny-{name}", new EnumerationOptions { RecurseSubdirectories = true, MaxRecursionDepth = 5, IgnoreInaccessible = true })
            .ToArray();

    /// <summary>Whether a process runs: it exists and is not a zombie (one whose parent is gone waits for PID 1 to reap it).</summary>
    public static bool IsAlive(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            return stat[(stat.LastIndexOf(')') + 2)] is not ('Z' or 'X');
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException or IOException)
        {
            return false;
        }
    }

    /// <summary>The host's mounts where a container run could leave one: on the temporary directory (test
    /// rootfs, bundles, volumes), under /run/tiny, or anything naming tiny. Other mounts are the host's
    /// own business (podman's first run, for one, mounts /run/netns while other tests run).</summary>
    public static string HostMounts() => string.Join('\n', File.ReadLines("/proc/self/mountinfo").Where(line =>
    {
        var fields = line.Split(' ');
        return fields[4].StartsWith(Path.GetTempPath().TrimEnd('/'), StringComparison.Ordinal)
            || fields[4].StartsWith("/run/tiny", StringComparison.Ordinal) || line.Contains("tiny", StringComparison.Ordinal);
    }));

    static string FindRepositoryRoot([System.Runtime.CompilerServices.CallerFilePath] string source = "")
    {
        foreach (var start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory, Path.GetDirectoryName(source)! })
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
                if (File.Exists(Path.Combine(dir.FullName, "Tiny.sln"))) return dir.FullName;
        return Directory.GetCurrentDirectory();
    }
}

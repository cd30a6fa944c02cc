namespace Tiny.Tests.Integration.Run;

/// <summary>Bad input: one line naming the culprit, a distinct exit code, nothing left on the host.</summary>
public class ErrorTests
{
    [Before(Test)]
    public void Require() => Tiny.RequireRootAndBinary();

    static async Task AssertFails(Tiny.Result result, int exitCode, string message)
    {
        await Assert.That(result.ExitCode).IsEqualTo(exitCode);
        await Assert.That(result.Stderr).IsEqualTo($"tiny: {message}\n");
    }

    [Test]
    public async Task A_command_missing_in_the_rootfs_is_127()
    {
        var name = Tiny.UniqueName("nope");
        await AssertFails(await Tiny.RunInBusybox(["--name", name], "/bin/nope"), 127,
            $"exec /bin/nope in rootfs {BusyboxRootfs.Path}: no such file or directory");
        await AssertFails(await Tiny.RunInBusybox([], "nope"), 127,
            $"exec \"nope\" (searched $PATH) in rootfs {BusyboxRootfs.Path}: no such file or directory");
        await Assert.That(Tiny.CgroupDirectoriesOf(name)).IsEmpty();
    }

    [Test]
    public async Task A_file_that_is_not_executable_is_126()
    {
        await AssertFails(await Tiny.RunInBusybox([], "/etc/passwd"), 126,
            $"exec /etc/passwd in rootfs {BusyboxRootfs.Path}: permission denied");
    }

    [Test]
    public async Task A_missing_rootfs_is_named()
    {
        await AssertFails(await Tiny.Run("run", "--rootfs", "/nonexistent-rootfs", "--", "true"), 125,
            "rootfs /nonexistent-rootfs: no such file or directory");
    }

    [Test]
    [Arguments("--memory", "lots", "invalid --memory \"lots\": expected a size such as 512M or 1G")]
    [Arguments("--cpus", "-1", "invalid --cpus \"-1\": expected a positive number such as 1.5")]
    [Arguments("--cpu-weight", "0", "invalid --cpu-weight 0: must be from 1 to 10000")]
    [Arguments("--cap-add", "SYS_WIZARD", "invalid --cap-add \"SYS_WIZARD\": unknown capability")]
    [Arguments("--net", "bogus", "invalid --net \"bogus\": expected bridge, none or host")]
    [Arguments("--name", "../etc", "invalid --name \"../etc\": use letters, digits, '_', '.' and '-' (at most 64, starting with a letter or digit)")]
    public async Task A_bad_option_value_is_named(string option, string value, string message)
    {
        await AssertFails(await Tiny.RunInBusybox([option, value], "true"), 125, message);
    }

    [Test]
    public async Task An_unknown_option_is_a_usage_error()
    {
        await AssertFails(await Tiny.RunInBusybox(["--frobnicate"], "true"), 125, "Argument '--frobnicate' is not recognized.");
    }

    [Test]
    [NotInParallel("host-mounts")]
    public async Task A_cgroup_write_the_kernel_refuses_is_reported_and_cleaned_up()
    {
        var name = Tiny.UniqueName("refused");
        var mounts = Tiny.HostMounts();
        var result = await Tiny.RunInBusybox(["--name", name, "--cpus", "0.001"], "true");
        await Assert.That(result.ExitCode).IsEqualTo(125);
        await Assert.That(result.Stderr).StartsWith("tiny: cgroup: write 100 to ").And.EndsWith(": invalid argument\n");
        await Assert.That(Tiny.CgroupDirectoriesOf(name)).IsEmpty();
        await Assert.That(Tiny.HostMounts()).IsEqualTo(mounts);
    }

    [Test]
    public async Task Running_without_root_and_not_rootless_is_refused()
    {
        var result = await Tiny.Exec("setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", Tiny.Binary, "--rootless", "false", "run", "--", "true"]);
        await AssertFails(result, 125, "a container needs root, or a user namespace when rootless (--rootless auto or true)");
    }
}

using System.Runtime.InteropServices;
using Tiny.Runtime.Launch;
using Tiny.Runtime.Mounts;
using Tiny.Runtime.Plan;

namespace Tiny.Tests.Unit.Run;

public class NativePlanTests
{
    static unsafe string? Utf8(long pointer) => pointer == 0 ? null : Marshal.PtrToStringUTF8((nint)pointer);

    static unsafe string[] Strings(long array)
    {
        List<string> values = [];
        for (var p = (long*)array; *p != 0; p++) values.Add(Utf8(*p)!);
        return [.. values];
    }

    [Test]
    public async Task Steps_are_laid_out_with_pointers_to_nul_terminated_strings_and_arrays()
    {
        await Assert.That(Decode()).IsEquivalentTo(
        [
            "6 4",
            "WaitForParent 9",
            "Mount null /rootfs/proc proc 14 hidepid=2",
            "SetGroups 2 5 6",
            "ResetSignals ffffffffffffffff",
            "LoadSeccompFilter 2 16",
            "Exec /bin/sh,/usr/bin/sh sh,-c,échö A=1",
        ], CollectionOrdering.Matching);
    }

    static unsafe List<string> Decode()
    {
        ChildStep[] steps =
        [
            new WaitForParent(9),
            new MountStep(null, "/rootfs/proc", "proc", 0xe, "hidepid=2"),
            new SetGroups([5u, 6u]),
            new ResetSignals(ulong.MaxValue),
            new LoadSeccompFilter([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]),
            new Exec(["/bin/sh", "/usr/bin/sh"], ["sh", "-c", "échö"], ["A=1"]),
        ];
        using var native = new NativePlan(steps, errorFd: 4);
        var header = native.Plan;
        var decoded = new List<string>();
        decoded.Add($"{header->StepCount} {header->ErrorFd}");
        var s = header->Steps;
        decoded.Add($"{s[0].Op} {s[0].A}");
        decoded.Add($"{s[1].Op} {Utf8(s[1].A) ?? "null"} {Utf8(s[1].B)} {Utf8(s[1].C)} {s[1].D} {Utf8(s[1].E)}");
        decoded.Add($"{s[2].Op} {s[2].A} {((uint*)s[2].B)[0]} {((uint*)s[2].B)[1]}");
        decoded.Add($"{s[3].Op} {(ulong)s[3].A:x}");
        decoded.Add($"{s[4].Op} {s[4].A} {((byte*)s[4].B)[15]}");
        decoded.Add($"{s[5].Op} {string.Join(',', Strings(s[5].A))} {string.Join(',', Strings(s[5].B))} {string.Join(',', Strings(s[5].C))}");
        return decoded;
    }

    [Test]
    public async Task A_terminal_carries_its_socket_and_a_struct_winsize()
    {
        var terminal = DecodeTerminal();
        await Assert.That(terminal.A).IsEqualTo(11L);
        // struct winsize { u16 ws_row, ws_col, ws_xpixel, ws_ypixel } read as one little-endian long.
        await Assert.That(terminal.B).IsEqualTo(30L | 100L << 16);
    }

    static unsafe NativePlan.Step DecodeTerminal()
    {
        using var native = new NativePlan([new OpenTerminal(11, Rows: 30, Columns: 100)], errorFd: 4);
        return native.Plan->Steps[0];
    }

    [Test]
    public async Task A_mount_in_the_root_carries_the_destinations_prefixes_and_its_flags()
    {
        await Assert.That(DecodeMountInRoot()).IsEqualTo("MountInRoot /rootfs data,data/x /srv/data bind null 5001 1 40000 1");
    }

    static unsafe string DecodeMountInRoot()
    {
        var request = new MountRequest("/data/x", "/srv/data", "bind", 0x5000 | 1, 0x40000, null);
        using var native = new NativePlan([new MountInRoot("/rootfs", "/data/x", request with { Destination = "/ignored" }, CreateMissing: true)], errorFd: 4);
        var s = native.Plan->Steps[0];
        return $"{s.Op} {Utf8(s.A)} {string.Join(',', Strings(s.B))} {Utf8(s.C)} {Utf8(s.D)} {Utf8(s.E) ?? "null"} {s.F:x} {s.G:x} {s.H:x} {s.I}";
    }

    [Test]
    public async Task A_copied_tmpfs_carries_the_destinations_prefixes_its_fd_and_its_propagation()
    {
        await Assert.That(DecodeMountTreeInRoot()).IsEqualTo("MountTreeInRoot /rootfs run,run/x 12 44000 1");
    }

    static unsafe string DecodeMountTreeInRoot()
    {
        var request = new MountRequest("/run/x", "tmpfs", "tmpfs", 0, 0x44000, null) { CopyUp = true };
        using var native = new NativePlan([new MountTreeInRoot("/rootfs", "/run/x", 12, request, CreateMissing: true)], errorFd: 4);
        var s = native.Plan->Steps[0];
        return $"{s.Op} {Utf8(s.A)} {string.Join(',', Strings(s.B))} {s.C} {s.D:x} {s.E}";
    }

    [Test]
    public async Task A_cgroup_join_writes_zero_to_the_membership_file()
    {
        await Assert.That(DecodeJoinCgroup()).IsEqualTo("WriteFile /sys/fs/cgroup/pids/tiny-c1/tasks 0 1");
    }

    static unsafe string DecodeJoinCgroup()
    {
        using var native = new NativePlan([new JoinCgroup("/sys/fs/cgroup/pids/tiny-c1/tasks")], errorFd: 4);
        var s = native.Plan->Steps;
        return $"{s[0].Op} {Utf8(s[0].A)} {Utf8(s[0].B)} {s[0].C}";
    }

    [Test]
    public async Task Device_numbers_use_the_kernels_encoding()
    {
        await Assert.That(NativePlan.MakeDev(1, 3)).IsEqualTo(0x103UL);
        await Assert.That(NativePlan.MakeDev(5, 0)).IsEqualTo(0x500UL);
        await Assert.That(NativePlan.MakeDev(259, 65536)).IsEqualTo(0x10010300UL);
    }
}

using Tiny.Runtime;
using Tiny.Runtime.Network;
using Tiny.Runtime.Users;

namespace Tiny.Tests.Unit.Run;

public class IdRangeLeaseTests
{
    const uint Slot = 65536, Pool = 2147483648;

    static IdLeaseSettings TempSettings(string subuid = "", string subgid = "")
    {
        var dir = Directory.CreateTempSubdirectory("tiny-userns-lease-").FullName;
        File.WriteAllText(Path.Combine(dir, "subuid"), subuid);
        File.WriteAllText(Path.Combine(dir, "subgid"), subgid);
        return new IdLeaseSettings(Path.Combine(dir, "state"), Path.Combine(dir, "subuid"), Path.Combine(dir, "subgid"));
    }

    static void Remove(IdLeaseSettings settings) => Directory.Delete(Path.GetDirectoryName(settings.StateDirectory)!, recursive: true);

    static IdRangeLease Acquire(IdLeaseSettings settings, string id, LeaseOwner? owner = null) =>
        IdRangeLease.Acquire(id, settings, owner ?? LeaseOwner.Current);

    /// <summary>An owner that is not running: a process that has exited and been reaped.</summary>
    static LeaseOwner DeadOwner()
    {
        using var process = System.Diagnostics.Process.Start("/bin/true")!;
        var owner = LeaseOwner.Of(process.Id);
        process.WaitForExit();
        return owner ?? new LeaseOwner(process.Id, 1);
    }

    [Test]
    public async Task Containers_get_disjoint_slots_from_2_to_the_31_and_a_released_slot_is_reused()
    {
        var settings = TempSettings();
        try
        {
            using var first = Acquire(settings, "a");
            var second = Acquire(settings, "b");
            await Assert.That(first.HostStart).IsEqualTo(Pool);
            await Assert.That(second.HostStart).IsEqualTo(Pool + Slot);
            await Assert.That(File.ReadAllText(settings.StateDirectory + "/leases")).Contains($"{Pool + Slot} b {LeaseOwner.Current}");
            second.Dispose();
            await Assert.That(File.ReadAllText(settings.StateDirectory + "/leases")).DoesNotContain(" b ");
            using var third = Acquire(settings, "c");
            await Assert.That(third.HostStart).IsEqualTo(Pool + Slot);
        }
        finally
        {
            Remove(settings);
        }
    }

    [Test]
    public async Task Slots_overlapping_subordinate_ranges_are_skipped()
    {
        var settings = TempSettings(subuid: $"alice:{Pool + 10}:5\n", subgid: $"bob:{Pool + Slot + Slot - 1}:2\n");
        try
        {
            using var lease = Acquire(settings, "a");
            // Slot 0 holds alice's uids; slots 1 and 2 each hold one of bob's gids.
            await Assert.That(lease.HostStart).IsEqualTo(Pool + 3 * Slot);
        }
        finally
        {
            Remove(settings);
        }
    }

    [Test]
    public async Task A_lease_of_an_owner_that_is_gone_is_reclaimed()
    {
        var settings = TempSettings();
        try
        {
            var dead = Acquire(settings, "ghost", DeadOwner());
            await Assert.That(dead.HostStart).IsEqualTo(Pool);
            using var lease = Acquire(settings, "ghost");
            await Assert.That(lease.HostStart).IsEqualTo(Pool);
        }
        finally
        {
            Remove(settings);
        }
    }

    [Test]
    public async Task A_lease_is_kept_while_the_containers_init_runs_though_its_tiny_is_gone()
    {
        var settings = TempSettings();
        using var tiny = System.Diagnostics.Process.Start("/bin/sleep", "60")!;
        try
        {
            var orphaned = Acquire(settings, "orphan", LeaseOwner.Of(tiny.Id));
            orphaned.KeptBy(LeaseOwner.Current);
            await Assert.That(File.ReadAllText(settings.StateDirectory + "/leases"))
                .IsEqualTo($"{Pool} orphan {LeaseOwner.Of(tiny.Id)} {LeaseOwner.Current}\n");
            tiny.Kill();
            await tiny.WaitForExitAsync();
            using var lease = Acquire(settings, "next");
            await Assert.That(lease.HostStart).IsEqualTo(Pool + Slot);
            orphaned.Dispose();
            await Assert.That(File.ReadAllText(settings.StateDirectory + "/leases")).DoesNotContain("orphan");
        }
        finally
        {
            Remove(settings);
        }
    }

    [Test]
    public async Task A_container_holds_at_most_one_range()
    {
        var settings = TempSettings();
        try
        {
            using var lease = Acquire(settings, "a");
            await Assert.That(() => Acquire(settings, "a"))
                .Throws<ContainerError>().WithMessage("container a already holds a user namespace range");
        }
        finally
        {
            Remove(settings);
        }
    }

    [Test]
    public async Task Parallel_acquisitions_never_share_a_slot()
    {
        var settings = TempSettings();
        try
        {
            var leases = await Task.WhenAll(Enumerable.Range(0, 16).Select(i => Task.Run(() => Acquire(settings, $"c{i}"))));
            await Assert.That(leases.Select(l => l.HostStart).Distinct().Count()).IsEqualTo(16);
            foreach (var lease in leases) lease.Dispose();
            await Assert.That(File.ReadAllText(settings.StateDirectory + "/leases")).IsEqualTo("");
        }
        finally
        {
            Remove(settings);
        }
    }

    [Test]
    public async Task With_every_slot_taken_by_subordinate_ranges_there_is_no_range_to_lease()
    {
        var settings = TempSettings(subuid: $"everyone:{Pool}:{uint.MaxValue - Pool}\n");
        try
        {
            await Assert.That(() => Acquire(settings, "a"))
                .Throws<ContainerError>().WithMessage("--userns auto: all 32767 ranges of 65536 host IDs are in use");
        }
        finally
        {
            Remove(settings);
        }
    }
}

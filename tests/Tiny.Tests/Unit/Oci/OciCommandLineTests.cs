using Tiny.Runtime;
using Tiny.Runtime.Oci;
using Tiny.Runtime.Spec;

namespace Tiny.Tests.Unit.Oci;

public class OciCommandLineTests
{
    [Test]
    public async Task Global_flags_before_the_command_are_taken_in_both_spellings()
    {
        var (options, command) = GlobalOptions.Extract(
            ["--root", "/tmp/r", "--log=/tmp/log.json", "--log-format", "json", "--debug", "--systemd-cgroup=false", "state", "--root", "x"]);
        await Assert.That(options).IsEqualTo(new GlobalOptions
        {
            Root = "/tmp/r", Log = "/tmp/log.json", LogFormat = "json", Debug = true, SystemdCgroup = false, Given = true,
        });
        await Assert.That(command).IsEquivalentTo(["state", "--root", "x"], CollectionOrdering.Matching);
        var (defaults, run) = GlobalOptions.Extract(["run", "--rootfs", "/r", "--", "sh"]);
        await Assert.That(defaults).IsEqualTo(new GlobalOptions());
        await Assert.That(defaults.Root).IsEqualTo("/run/tiny");
        await Assert.That(run.Length).IsEqualTo(5);
    }

    [Test]
    [Arguments("auto", null)]
    [Arguments("true", true)]
    [Arguments("false", false)]
    public async Task Rootless_is_auto_true_or_false_and_leaves_tiny_run_tinys_own(string value, bool? rootless)
    {
        var (options, command) = GlobalOptions.Extract(["--rootless", value, "run", "--", "id"]);
        await Assert.That(options.Rootless).IsEqualTo(rootless);
        await Assert.That(options.Given).IsFalse();
        await Assert.That(command).IsEquivalentTo(["run", "--", "id"], CollectionOrdering.Matching);
        await Assert.That(GlobalOptions.Extract(["--rootless=true", "--root", "/tmp/r", "run"]).Options.Given).IsTrue();
    }

    [Test]
    [Arguments(new[] { "--log-format", "xml", "list" }, "invalid --log-format \"xml\": expected text or json")]
    [Arguments(new[] { "--root" }, "flag --root needs a value")]
    [Arguments(new[] { "--rootless", "maybe", "list" }, "invalid --rootless \"maybe\": expected auto, true or false")]
    public async Task Bad_global_flags_are_one_line_errors(string[] args, string message)
    {
        var error = Assert.Throws<ContainerError>(() => GlobalOptions.Extract(args));
        await Assert.That(error.Message).IsEqualTo(message);
    }

    [Test]
    [Arguments("TERM", 15)]
    [Arguments("SIGTERM", 15)]
    [Arguments("sigkill", 9)]
    [Arguments("9", 9)]
    [Arguments("WINCH", 28)]
    [Arguments("64", 64)]
    public async Task Signals_are_names_with_or_without_sig_or_numbers(string text, int number) =>
        await Assert.That(OciRuntime.ParseSignal(text)).IsEqualTo(number);

    [Test]
    [Arguments("NOPE")]
    [Arguments("0")]
    [Arguments("65")]
    [Arguments("-1")]
    public async Task Unknown_signals_are_refused(string text) =>
        await Assert.That(Assert.Throws<ContainerError>(() => OciRuntime.ParseSignal(text)).Message).Contains(text);

    [Test]
    public async Task Option_names_stop_at_the_first_operand_and_skip_option_values()
    {
        var run = new CommandSyntax("run", ["--readonly"], [], HasCommandOperand: true);
        await Assert.That(run.OptionNames(["run", "--name", "-d", "--readonly", "--bundle=b", "id", "--detach"]))
            .IsEquivalentTo(["--name", "--readonly", "--bundle"], CollectionOrdering.Matching);
        await Assert.That(run.OptionNames(["run", "--", "-d"])).IsEmpty();
    }

    [Test]
    [Arguments("a")]
    [Arguments("A-b_c.d+e")]
    public async Task Container_ids_of_runcs_characters_are_accepted(string id)
    {
        ContainerStore.ValidateId(id);
        await Assert.That(id).IsNotEmpty();
    }

    [Test]
    [Arguments("..")]
    [Arguments("a/b")]
    [Arguments("")]
    [Arguments("é")]
    [Arguments("a\n")]
    public async Task Ids_that_are_not_one_plain_path_component_are_refused(string id) =>
        await Assert.That(Assert.Throws<ContainerError>(() => ContainerStore.ValidateId(id)).Message).StartsWith("invalid container id");

    [Test]
    public async Task State_is_saved_whole_and_a_dead_init_reads_as_stopped()
    {
        var root = Directory.CreateTempSubdirectory("tiny-store-").FullName;
        try
        {
            var store = new ContainerStore(root);
            store.CreateDirectory("c1");
            await Assert.That(Assert.Throws<ContainerError>(() => store.CreateDirectory("c1")).Message).IsEqualTo("container \"c1\" already exists");
            var self = Environment.ProcessId;
            store.SaveLocked(new ContainerRecord
            {
                Id = "c1", Pid = self, PidStartTime = ContainerStore.ProcessStartTime(self)!.Value, Bundle = "/b",
                Annotations = new() { ["k"] = "v" },
            });
            var (held, record) = store.Open("c1");
            using (held)
            {
                await Assert.That(store.StatusOf(record)).IsEqualTo(ContainerStatus.Running);
                File.WriteAllText(store.ExecFifoOf("c1"), "");
                await Assert.That(store.StatusOf(record)).IsEqualTo(ContainerStatus.Created);
                record.PidStartTime++;
                await Assert.That(store.StatusOf(record)).IsEqualTo(ContainerStatus.Stopped);
                var state = store.StateOf(record);
                await Assert.That(state.Pid).IsEqualTo(0);
                await Assert.That(state.Status).IsEqualTo("stopped");
                await Assert.That(state.Annotations!["k"]).IsEqualTo("v");
            }
            await Assert.That(store.Ids()).IsEquivalentTo(["c1"], CollectionOrdering.Matching);
            await Assert.That(Directory.GetFiles(store.DirectoryOf("c1")).Select(f => Path.GetFileName(f)).Order())
                .IsEquivalentTo(["exec.fifo", "state.json"], CollectionOrdering.Matching);
            store.Remove("c1");
            await Assert.That(Assert.Throws<ContainerError>(() => store.Open("c1")).Message).IsEqualTo("container does not exist: c1");
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    [Test]
    public async Task State_json_is_written_as_the_serializer_writes_it()
    {
        ContainerRecord[] records =
        [
            new() { Id = "a+b<c>", Pid = 7, Bundle = "/b", Rootfs = "/b/rootfs", Created = new DateTimeOffset(2025, 1, 2, 3, 4, 5, TimeSpan.Zero) },
            new()
            {
                Id = "full", Pid = 42, PidStartTime = ulong.MaxValue, Bundle = "/bündle \"q\"", Rootfs = "/", Created = DateTimeOffset.UtcNow,
                Annotations = new() { ["k"] = "v", ["é&"] = "" }, CgroupDirectories = ["/sys/fs/cgroup/pids/tiny-full", "/x"],
                Command = ["sh", "-c", "echo 'hi'"], MonitorPid = 9, MonitorStartTime = 10, Bridge = true, PidFile = "/run/p",
                ExitCode = -1, Finished = DateTimeOffset.UtcNow, FreezerDirectory = "/sys/fs/cgroup/freezer/tiny-full",
                Hooks = new() { Poststop = [new() { Path = "/h", Args = ["h", "x"], Env = ["A=1"], Timeout = 3 }], Prestart = [] },
            },
            new()
            {
                Id = "escapes", Bundle = "back\\slash\ttab\nline\rcr\bbs\fff\u0001\u007f`grave`/slash", Rootfs = "日本 \U0001F600 \u00e9 \u2028",
                Annotations = new() { ["\"quoted\" & 'single'"] = "<html>+" },
            },
        ];
        // The full record sets every property, so that a property added to the record and not to the writer fails here.
        foreach (var property in typeof(ContainerRecord).GetProperties())
            await Assert.That(property.GetValue(records[1])).IsNotNull().Because(property.Name);
        foreach (var record in records)
        {
            var expected = System.Text.Json.JsonSerializer.Serialize(record, StateJsonContext.Default.ContainerRecord);
            var written = ContainerStore.Serialize(record);
            await Assert.That(System.Text.Encoding.UTF8.GetString(written)).IsEqualTo(expected);
            // Read back by hand, it is the same record: every property, since the full one sets them all.
            await Assert.That(System.Text.Encoding.UTF8.GetString(ContainerStore.Serialize(OciConfigReader.ParseRecord(written)!))).IsEqualTo(expected);
        }
    }

    [Test]
    public async Task State_output_is_written_as_the_serializer_writes_it()
    {
        OciState[] states =
        [
            new() { OciVersion = "1.2.0", Id = "plain", Pid = 7, Status = "running", Bundle = "/b", Rootfs = "/b/rootfs", Created = "2026-11-24T00:00:00Z", Owner = "" },
            new()
            {
                OciVersion = "1.2.0", Id = "escapes", Status = "stopped", Bundle = "/bündle \"q\"\ttab\u0001 \U0001F600 \u2028 <&>'`",
                Created = "x", Annotations = new() { ["k"] = "v", ["\"quoted\" é"] = "" }, Owner = "root",
            },
            new() { Id = "empty annotations", Annotations = [] },
        ];
        foreach (var state in states)
            await Assert.That(System.Text.Encoding.UTF8.GetString(ContainerStore.Serialize([state], asArray: false)))
                .IsEqualTo(System.Text.Json.JsonSerializer.Serialize(state, StateJsonContext.Default.OciState));
        foreach (var array in new[] { states, [] })
            await Assert.That(System.Text.Encoding.UTF8.GetString(ContainerStore.Serialize(array, asArray: true)))
                .IsEqualTo(System.Text.Json.JsonSerializer.Serialize(array, StateJsonContext.Default.OciStateArray));
    }
}

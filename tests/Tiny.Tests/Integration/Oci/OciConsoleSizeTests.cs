using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;
using Tiny.Interop;

namespace Tiny.Tests.Integration.Oci;

/// <summary>process.consoleSize: the size of the terminal the container gets, which the runtime sends to --console-socket
/// as conmon and containerd's shim receive it.</summary>
public class OciConsoleSizeTests
{
    [Test]
    [Arguments("tiny")]
    [Arguments("runc")]
    public async Task The_terminal_sent_to_the_console_socket_starts_at_the_configs_size(string name)
    {
        RuntimeUnderTest.Require(name);
        using var runtime = RuntimeUnderTest.Of(name);
        using var bundle = await OciBundle.Create(["stty", "size"], config =>
        {
            config["process"]!["terminal"] = true;
            config["process"]!["consoleSize"] = JsonNode.Parse("""{"height": 30, "width": 100}""");
        });
        var path = Path.Combine(runtime.Root, "console.sock");
        using var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        listener.Bind(new UnixDomainSocketEndPoint(path));
        listener.Listen(1);
        // Detached: runc takes a console socket only from a runtime that does not stay.
        var run = runtime.Run("run", "-d", "--console-socket", path, "--bundle", bundle.Path, runtime.NewId("console"));
        using var connection = await listener.AcceptAsync().WaitAsync(TimeSpan.FromSeconds(30));
        var master = (int)UnixSocket.ReceiveFd((int)connection.Handle, 0);
        await Assert.That(master).IsGreaterThan(0);
        var output = await Task.Run(() =>
        {
            // The master reads until the container's last hold on the terminal is gone (EIO).
            var text = new StringBuilder();
            var buffer = new byte[256];
            for (int n; (n = FileDescriptor.TryRead(master, buffer)) > 0;) text.Append(Encoding.UTF8.GetString(buffer, 0, n));
            FileDescriptor.Close(master);
            return text.ToString();
        });
        var result = await run;
        await Assert.That(result.Stderr).IsEmpty();
        await Assert.That(result.ExitCode).IsEqualTo(0);
        await Assert.That(output).IsEqualTo("30 100\r\n");
    }
}

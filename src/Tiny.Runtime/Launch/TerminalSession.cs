using Tiny.Interop;

namespace Tiny.Runtime.Launch;

/// <summary>
/// The parent's side of `tiny run -t`. Before clone: the socket pair the child sends the
/// pseudoterminal's master over, and the caller's window size. Once the container has exec'd:
/// the master, the caller's terminal in raw mode when input is forwarded (-i), and bytes copied
/// both ways until the container ends. Dispose puts the caller's terminal back as it was.
/// </summary>
internal sealed class TerminalSession : IDisposable
{
    const int Stdin = 0, Stdout = 1;

    readonly bool forwardInput;
    readonly int parentSocket;
    int childSocket, master = -1;
    byte[]? savedAttributes;

    public Terminal.WindowSize InitialSize { get; }
    public int ChildSocket => childSocket;

    public TerminalSession(bool forwardInput)
    {
        this.forwardInput = forwardInput;
        (parentSocket, childSocket) = UnixSocket.CreatePair();
        InitialSize = CallerWindowSize() ?? default;
    }

    static Terminal.WindowSize? CallerWindowSize() => Terminal.GetWindowSize(Stdin) ?? Terminal.GetWindowSize(Stdout);

    /// <summary>After clone: the child holds its own copy of its end.</summary>
    public void CloseChildSocket()
    {
        FileDescriptor.Close(childSocket);
        childSocket = -1;
    }

    /// <summary>Takes the master, which the child queued on the socket before it exec'd.</summary>
    public void Attach()
    {
        var fd = UnixSocket.TryReceiveFd(parentSocket);
        if (fd < 0) throw new ContainerError("the container's terminal did not arrive from its init");
        Volatile.Write(ref master, fd);
        if (forwardInput && Terminal.IsTerminal(Stdin))
        {
            savedAttributes = Terminal.GetAttributes(Stdin);
            Terminal.SetAttributes(Stdin, Terminal.Raw(savedAttributes));
        }
    }

    /// <summary>On SIGWINCH: the caller's new size to the container's terminal, whose foreground
    /// process group the kernel then signals (ioctl_tty(2), TIOCSWINSZ).</summary>
    public void Resize()
    {
        var fd = Volatile.Read(ref master);
        if (fd >= 0 && CallerWindowSize() is { } size) Terminal.SetWindowSize(fd, size);
    }

    /// <summary>Copies input to the terminal (-i) and its output to stdout until <paramref name="pid"/>
    /// exits, then whatever output is left; meanwhile <paramref name="notify"/>'s messages are relayed.</summary>
    public void CopyUntilExit(int pid, NotifyRelay? notify = null)
    {
        var pidFd = Process.OpenPidFd(pid);
        var buffer = new byte[16384];
        Span<FileDescriptor.PollFd> fds = stackalloc FileDescriptor.PollFd[4];
        fds[0] = new() { Fd = master, Events = FileDescriptor.POLLIN };
        fds[1] = new() { Fd = pidFd, Events = FileDescriptor.POLLIN };
        fds[2] = new() { Fd = forwardInput ? Stdin : -1, Events = FileDescriptor.POLLIN };
        fds[3] = new() { Fd = notify?.Socket ?? -1, Events = FileDescriptor.POLLIN };
        try
        {
            while (fds[1].ReturnedEvents == 0)
            {
                FileDescriptor.Poll(fds, -1);
                if (fds[0].ReturnedEvents != 0 && !Copy(master, Stdout, buffer)) fds[0].Fd = -1;
                if (fds[2].ReturnedEvents != 0 && !Copy(Stdin, master, buffer)) fds[2].Fd = -1;
                if (fds[3].ReturnedEvents != 0) notify!.RelayPending();
            }
            notify?.RelayPending();
            // The container's processes are gone; what they wrote may still be in the terminal.
            fds = fds[..1];
            while (fds[0].Fd >= 0 && FileDescriptor.Poll(fds, 0) > 0)
                if (!Copy(master, Stdout, buffer)) break;
        }
        finally
        {
            FileDescriptor.Close(pidFd);
        }
    }

    /// <summary>One read and its write; false at end of input (a master reads EIO once no peer is open).</summary>
    static bool Copy(int from, int to, byte[] buffer)
    {
        var n = FileDescriptor.TryRead(from, buffer);
        return n > 0 && FileDescriptor.TryWriteAll(to, buffer.AsSpan(0, n)) == 0;
    }

    public void Dispose()
    {
        if (savedAttributes is not null) Terminal.SetAttributes(Stdin, savedAttributes);
        FileDescriptor.Close(Interlocked.Exchange(ref master, -1));
        FileDescriptor.Close(parentSocket);
        FileDescriptor.Close(childSocket);
    }
}

namespace Tiny.Tests.Integration.Run;

/// <summary>`tiny run -t` and `-it` on a real pseudoterminal, as a user's terminal would drive it.
/// The driver is a short Python script (a test tool, like nft): it opens a pty sized 30x100, starts
/// tiny with it as the controlling terminal, answers the container and resizes the window.</summary>
public class TerminalTests
{
    [Before(Test)]
    public void Require() => Tiny.RequireRootAndBinary();

    const string Driver = """
        import fcntl, os, select, struct, sys, termios, time
        def size(fd, rows, cols): fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack('HHHH', rows, cols, 0, 0))
        master, peer = os.openpty()
        size(peer, 30, 100)
        before = termios.tcgetattr(peer)
        pid = os.fork()
        if pid == 0:
            os.setsid(); fcntl.ioctl(peer, termios.TIOCSCTTY, 0)
            for fd in (0, 1, 2): os.dup2(peer, fd)
            os.execv(sys.argv[1], sys.argv[1:])
        out = b''
        def until(token):
            global out
            deadline = time.time() + 20
            while token not in out and time.time() < deadline:
                if select.select([master], [], [], 0.1)[0]: out += os.read(master, 4096)
            if token not in out:
                # End the container (tiny's child), so that tiny cleans up and exits before we do.
                os.system('pkill -KILL -P %d' % pid); os.waitpid(pid, 0)
                sys.exit('timed out waiting for %r in %r' % (token, out))
        for step in sys.stdin.read().split('\n'):
            if step.startswith('wait '): until(step[5:].encode())
            elif step.startswith('resize '): size(master, *map(int, step[7:].split('x')))
            elif step.startswith('type '): os.write(master, step[5:].encode() + b'\r')
        _, status = os.waitpid(pid, 0)
        while select.select([master], [], [], 0.2)[0]:
            try: out += os.read(master, 4096)
            except OSError: break
        # Both terminals turn \n into \r\n (output is not raw without -i, as with docker run -t).
        print(out.decode().replace('\r', ''))
        print('exit', os.waitstatus_to_exitcode(status))
        print('terminal restored', termios.tcgetattr(peer) == before)
        """;

    static Task<Tiny.Result> OnTerminal(string steps, params string[] tinyArgs) =>
        Tiny.ExecWithInput("/usr/bin/python3", ["-c", Driver, Tiny.Binary, .. tinyArgs], steps);

    [Test]
    public async Task With_t_the_command_has_its_own_terminal_of_the_callers_size()
    {
        var result = await OnTerminal("", "run", "-t", "--net", "none", "--rootfs", BusyboxRootfs.Path, "--",
            "/bin/sh", "-c", "tty; stty size; [ -t 0 ] && [ -t 1 ] && [ -t 2 ] && echo all-three; exit 4");
        await Assert.That(result.Stdout).Contains("/dev/pts/0\n30 100\nall-three\n")
            .And.Contains("exit 4\nterminal restored True");
    }

    [Test]
    public async Task With_init_the_command_is_the_terminals_foreground_group_so_ctrl_c_reaches_it_once()
    {
        // /proc/self/stat fields 5 and 8: the process group and the terminal's foreground group.
        const string script = "trap 'echo got-int; exit 7' INT; set -- $(cat /proc/$$/stat); echo pgrp=$5 tpgid=$8; " +
            "echo ready; while :; do sleep 0.05; done";
        var result = await OnTerminal("wait ready\ntype \u0003", "run", "-it", "--init", "--net", "none",
            "--rootfs", BusyboxRootfs.Path, "--", "/bin/sh", "-c", script);
        await Assert.That(result.Stdout).Contains("pgrp=2 tpgid=2\nready\n").And.Contains("got-int\n")
            .And.Contains("exit 7\nterminal restored True");
    }

    [Test]
    public async Task With_it_input_reaches_the_command_a_resize_follows_and_the_terminal_is_restored()
    {
        const string script = "stty size; echo ready; while [ \"$(stty size)\" = '30 100' ]; do sleep 0.05; done; " +
            "stty size; read line; echo got $line; exit 3";
        var result = await OnTerminal("wait ready\nresize 40x120\nwait 40 120\ntype hello\nwait got hello",
            "run", "-it", "--net", "none", "--rootfs", BusyboxRootfs.Path, "--", "/bin/sh", "-c", script);
        await Assert.That(result.Stdout).Contains("30 100\nready\n40 120\nhello\ngot hello\n")
            .And.Contains("exit 3\nterminal restored True");
    }
}

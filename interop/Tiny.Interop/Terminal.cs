using System.Runtime.InteropServices;

namespace Tiny.Interop;

/// <summary>Terminals: pseudoterminal and window-size ioctls (ioctl_tty(2), pty(7)) and the line
/// discipline's attributes (termios(3)).</summary>
public static unsafe partial class Terminal
{
    public const uint TIOCSCTTY = 0x540E, TIOCGWINSZ = 0x5413, TIOCSWINSZ = 0x5414, TIOCSPTLCK = 0x40045431,
        TIOCGPTPEER = 0x5441, TIOCSPGRP = 0x5410;

    public const int O_NOCTTY = 0x100;

    /// <summary>struct winsize.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct WindowSize
    {
        public ushort Rows, Columns, XPixels, YPixels;
    }

    /// <summary>glibc's struct termios is 60 bytes; kept opaque.</summary>
    const int TermiosSize = 64;
    const int TCSANOW = 0;

    [LibraryImport("libc", EntryPoint = "isatty")]
    private static partial int IsATty(int fd);

    [LibraryImport("libc", EntryPoint = "ioctl", SetLastError = true)]
    private static partial int Ioctl(int fd, nuint request, void* argument);

    [LibraryImport("libc", EntryPoint = "tcgetattr", SetLastError = true)]
    private static partial int TcGetAttr(int fd, byte* termios);

    [LibraryImport("libc", EntryPoint = "tcsetattr", SetLastError = true)]
    private static partial int TcSetAttr(int fd, int when, byte* termios);

    [LibraryImport("libc", EntryPoint = "cfmakeraw")]
    private static partial void CfMakeRaw(byte* termios);

    public static bool IsTerminal(int fd) => IsATty(fd) == 1;

    /// <summary>The window size of the terminal on <paramref name="fd"/>, or null if it is none.</summary>
    public static WindowSize? GetWindowSize(int fd)
    {
        WindowSize size;
        return Ioctl(fd, TIOCGWINSZ, &size) == 0 ? size : null;
    }

    public static void SetWindowSize(int fd, WindowSize size)
    {
        if (Ioctl(fd, TIOCSWINSZ, &size) < 0) throw new SyscallException("ioctl TIOCSWINSZ", Marshal.GetLastPInvokeError());
    }

    public static byte[] GetAttributes(int fd)
    {
        var termios = new byte[TermiosSize];
        fixed (byte* t = termios)
            if (TcGetAttr(fd, t) < 0) throw new SyscallException("tcgetattr", Marshal.GetLastPInvokeError());
        return termios;
    }

    public static void SetAttributes(int fd, byte[] termios)
    {
        fixed (byte* t = termios)
            if (TcSetAttr(fd, TCSANOW, t) < 0) throw new SyscallException("tcsetattr", Marshal.GetLastPInvokeError());
    }

    /// <summary><paramref name="termios"/> in raw mode: no echo, no line editing, no signals from keys.</summary>
    public static byte[] Raw(byte[] termios)
    {
        var raw = (byte[])termios.Clone();
        fixed (byte* t = raw) CfMakeRaw(t);
        return raw;
    }
}

using System.Globalization;

namespace Tiny.Runtime.Spec;

/// <summary>Sizes as Docker writes them: 512M, 1g, 1.5G, 65536k, 1024 (bytes); units are powers of 1024.</summary>
public static class Size
{
    public static long Parse(string text, string option)
    {
        var s = text.Trim().ToLowerInvariant();
        if (s.EndsWith('b') && s.Length > 1 && char.IsLetter(s[^2])) s = s[..^1];
        var multiplier = s.Length == 0 ? 0 : s[^1] switch
        {
            'b' => 1L, 'k' => 1L << 10, 'm' => 1L << 20, 'g' => 1L << 30, 't' => 1L << 40,
            _ => char.IsDigit(s[^1]) ? 1L : 0,
        };
        if (multiplier != 0 && !char.IsDigit(s[^1])) s = s[..^1];
        if (multiplier == 0 || !decimal.TryParse(s, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var number)
            || number <= 0 || number * multiplier > long.MaxValue)
            throw new ContainerError($"invalid {option} \"{text}\": expected a size such as 512M or 1G");
        return (long)(number * multiplier);
    }
}

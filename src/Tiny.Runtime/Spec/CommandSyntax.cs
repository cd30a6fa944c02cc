namespace Tiny.Runtime.Spec;

/// <summary>
/// What ConsoleAppFramework's one-pass parser leaves to us, for one command: options that may be
/// repeated (<c>-e A -e B</c>), <c>--name=value</c>, and where the container's own command starts
/// (the first operand, or after <c>--</c>), so that its arguments are never read as tiny's options,
/// and short flags written together (<c>-it</c>).
/// <see cref="Normalize"/> rewrites argv accordingly: each repeated option becomes one option whose
/// value is the values joined by NUL (<see cref="Separator"/>; no argument can contain one), and the
/// command follows a <c>--</c>.
/// </summary>
public sealed record CommandSyntax(string Name, string[] Flags, string[][] Repeatable, bool HasCommandOperand)
{
    public const char Separator = '\0';

    public static string[] Split(string? joined) => joined is null ? [] : joined.Split(Separator);

    public static string[] Normalize(string[] args, IEnumerable<CommandSyntax> commands)
    {
        if (args.Length == 0) return args;
        var syntax = commands.FirstOrDefault(c => c.Name == args[0]);
        return syntax is null ? args : syntax.Rewrite(args);
    }

    /// <summary>The option names given before the command's operand (or <c>--</c>), without their values: args[0] is the command.</summary>
    public IEnumerable<string> OptionNames(string[] args)
    {
        for (var i = 1; i < args.Length; i++)
        {
            var token = args[i];
            if (token == "--" || !token.StartsWith('-') || token.Length == 1) yield break;
            var eq = token.IndexOf('=');
            var hasValue = token.StartsWith("--", StringComparison.Ordinal) && eq > 2;
            var name = hasValue ? token[..eq] : token;
            yield return name;
            if (!hasValue && !Flags.Contains(name)) i++;
        }
    }

    string[] Rewrite(string[] args)
    {
        List<string> output = [args[0]];
        var repeated = new Dictionary<string, List<string>>();
        var i = 1;
        for (; i < args.Length; i++)
        {
            var token = args[i];
            if (token == "--" || !token.StartsWith('-') || token.Length == 1)
            {
                if (!HasCommandOperand) { output.Add(token); continue; }
                break;
            }
            if (IsFlagCluster(token))
            {
                output.AddRange(token[1..].Select(c => "-" + c));
                continue;
            }
            var name = token;
            string? value = null;
            var eq = token.IndexOf('=');
            if (token.StartsWith("--", StringComparison.Ordinal) && eq > 2)
            {
                name = token[..eq];
                value = token[(eq + 1)..];
            }
            if (Flags.Contains(name))
            {
                if (value is null || value.Equals("true", StringComparison.OrdinalIgnoreCase)) output.Add(name);
                continue;
            }
            if (value is null && i + 1 < args.Length) value = args[++i];
            var group = Repeatable.FirstOrDefault(g => g.Contains(name));
            if (group is not null)
            {
                if (value is null) { output.Add(name); continue; }
                if (!repeated.TryGetValue(group[^1], out var values)) repeated[group[^1]] = values = [];
                values.Add(value);
                continue;
            }
            output.Add(name);
            if (value is not null) output.Add(value);
        }
        foreach (var (name, values) in repeated)
        {
            output.Add(name);
            output.Add(string.Join(Separator, values));
        }
        if (i < args.Length)
        {
            output.Add("--");
            output.AddRange(args[i] == "--" ? args[(i + 1)..] : args[i..]);
        }
        return [.. output];
    }

    bool IsFlagCluster(string token) =>
        token.Length > 2 && token[0] == '-' && token[1] != '-' && token.Skip(1).All(c => Flags.Contains("-" + c));
}

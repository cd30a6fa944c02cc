global using TUnit.Assertions.Enums;

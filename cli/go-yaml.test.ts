// goYaml against what sigs.k8s.io/yaml v1.6.0 (go-yaml v2.4.4, as crossplane render uses it) printed for the same
// values: each expected text below came from JSONToYAML.
import { describe, expect, it } from "vitest";
import { goYaml } from "./go-yaml.ts";

const cases: Record<string, { value: Parameters<typeof goYaml>[0]; want: string }> = {
  KeysInGoYamlOrder: {
    value: { b: 1, a: 2, "a.b": 3, "a-b": 4, a10: 5, a2: 6, B: 7, _x: 8 },
    want: "_x: 8\nB: 7\na: 2\na-b: 4\na.b: 3\na2: 6\na10: 5\nb: 1\n",
  },
  StringsThatWouldReadAsAnotherTypeAreDoubleQuoted: {
    value: ["on", "y", "True", "16", "2024-01-01T00:00:00Z", "1:20", "", "~", "0x1F", "1e3", ".5"],
    want: '- "on"\n- "y"\n- "True"\n- "16"\n- "2024-01-01T00:00:00Z"\n- "1:20"\n- ""\n- "~"\n- "0x1F"\n- "1e3"\n- ".5"\n',
  },
  StringsThatCannotBePlainAreSingleQuoted: {
    value: ["Unready resources: a", "- x", "#a", "it's", "a #b", " lead", "trail ", "--- x"],
    want: "- 'Unready resources: a'\n- '- x'\n- '#a'\n- it's\n- 'a #b'\n- ' lead'\n- 'trail '\n- '--- x'\n",
  },
  LongStringsFoldAtTheFirstSpacePastColumn80: {
    value: {
      conditions: [{ message: "waiting for FlexibleServer pg-payments-orders-prod-edfe87: not created yet; FlexibleServerDatabase orders: not created yet" }],
      plain: "word ".repeat(30).trim(),
    },
    want:
      "conditions:\n- message: 'waiting for FlexibleServer pg-payments-orders-prod-edfe87: not created\n    yet; FlexibleServerDatabase orders: not created yet'\n" +
      "plain: word word word word word word word word word word word word word word word\n  word word word word word word word word word word word word word word word\n",
  },
  ControlCharactersAndCharactersPastTheBmpAreEscaped: {
    value: ["a\tb", "\u001b", "\ufeff", "emoji 😀", 'back\\slash "q": x\t'],
    want: '- "a\\tb"\n- "\\e"\n- "\\uFEFF"\n- "emoji \\U0001F600"\n- "back\\\\slash \\"q\\": x\\t"\n',
  },
  MultiLineStringsAreLiteral: {
    value: { clip: "line1\nline2\n", strip: "a\nb", keep: "x\n\n", indented: " a\nb" },
    want: "clip: |\n  line1\n  line2\nindented: |2-\n   a\n  b\nkeep: |+\n  x\n\nstrip: |-\n  a\n  b\n",
  },
  EmptyCollectionsAreFlow: {
    value: { a: [], b: {}, c: [[], {}] },
    want: "a: []\nb: {}\nc:\n- []\n- {}\n",
  },
  SequencesUnderAKeyAreNotIndentedNestedOnesAre: {
    value: { a: [1, [2, [3]], { k: "v", l: [true, null] }] },
    want: "a:\n- 1\n- - 2\n  - - 3\n- k: v\n  l:\n  - true\n  - null\n",
  },
  UndefinedIsLeftOutAsInJson: {
    value: { a: undefined, b: [undefined, 1], c: { d: undefined } },
    want: "b:\n- null\n- 1\nc: {}\n",
  },
  NumbersAsGoFormatsThem: {
    value: [1.5, 0.00001, 0.0001, 1234567.5, 1e21, -2.5e-7, 128, -3],
    want: "- 1.5\n- 1e-05\n- 0.0001\n- 1.2345675e+06\n- 1e+21\n- -2.5e-07\n- 128\n- -3\n",
  },
};

describe("goYaml prints what crossplane render prints", () => {
  for (const [name, { value, want }] of Object.entries(cases)) {
    it(name, () => {
      expect(goYaml(value)).toBe(want);
    });
  }
});

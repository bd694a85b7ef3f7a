import { describe, expect, it } from "vitest";
import { PASSWORD_ALPHABET, containsLoginPart, generatePassword } from "./password.ts";

describe("containsLoginPart", () => {
  const cases: Array<[password: string, login: string, want: boolean]> = [
    ["xxPGAxx", "pgadmin", true], // case-insensitive
    ["xxdmixx", "pgadmin", true],
    ["xxpgxx-adxx", "pgadmin", false], // only two consecutive characters
    ["app_owner-1", "app_owner", true],
    ["xx_owxx", "app_owner", false], // "_ow" crosses a non-alphanumeric
    ["anything", "ab", false], // logins shorter than 3 cannot collide
  ];
  for (const [password, login, want] of cases) {
    it(`${password} vs ${login} -> ${want}`, () => expect(containsLoginPart(password, login)).toBe(want));
  }
});

describe("generatePassword", () => {
  const classes = Object.values(PASSWORD_ALPHABET);
  for (const [length, login] of [
    [16, "pgadmin"],
    [32, "pgadmin"],
    [128, "abcdefghijklmnopqrstuvwxyz"],
  ] as const) {
    it(`length ${length}, login ${login}: every class, allowed characters only, no part of the login`, () => {
      for (let i = 0; i < 200; i++) {
        const p = generatePassword({ length, avoid: [login] });
        expect(p).toHaveLength(length);
        for (const c of classes) expect([...p].some((ch) => c.includes(ch))).toBe(true);
        expect([...p].every((ch) => classes.join("").includes(ch))).toBe(true);
        expect(containsLoginPart(p, login)).toBe(false);
      }
    });
  }
  it("never repeats across many draws", () => {
    const seen = new Set(Array.from({ length: 2000 }, () => generatePassword({ length: 16 })));
    expect(seen.size).toBe(2000);
  });
  it("without symbols: upper, lower and digits only, each present", () => {
    const { upper, lower, digits } = PASSWORD_ALPHABET;
    for (let i = 0; i < 200; i++) {
      const p = generatePassword({ length: 12, symbols: false, avoid: ["orders_app"] });
      expect(p).toMatch(/^[A-Za-z0-9]{12}$/);
      for (const c of [upper, lower, digits]) expect([...p].some((ch) => c.includes(ch))).toBe(true);
      expect(containsLoginPart(p, "orders_app")).toBe(false);
    }
  });
});

import { referencedStepIds, renderTemplate, evaluateExpression } from "/work/main/lib/workflow/expression";
const ctx = { input: { n: 2, topic: "x" }, steps: { a: { text: "hi" }, "my-step": { v: 3 } }, vars: { n: 1 } };
console.log(referencedStepIds("steps.a.text & steps.`my-step`.v + $count(steps.b)"));
console.log(await renderTemplate("{{ vars.n + 1 }}", ctx), await renderTemplate("x {{ input.n * 2 }} {{ steps.a }}", ctx));
console.log(await evaluateExpression("vars.n = 1 and input.topic = 'x'", ctx), await evaluateExpression("steps.zz", ctx));
try { await evaluateExpression("1 +", ctx) } catch (e) { console.log(String(e)) }

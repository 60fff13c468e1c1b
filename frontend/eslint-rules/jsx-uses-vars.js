// Loaded through eslint --rulesdir, which only picks up .js files, hence the
// package.json beside it that makes this folder CommonJS.
//
// Marks components used only in JSX as used, so `no-unused-vars` does not
// flag them. eslint-plugin-react provides this rule, but it is not packaged
// for Debian; this is the part of it that the project needs.
module.exports = {
  meta: { type: 'problem', docs: { description: 'Mark variables used in JSX as used' }, schema: [] },
  create(context) {
    return {
      JSXOpeningElement(node) {
        let name = node.name;
        while (name.type === 'JSXMemberExpression') name = name.object;
        if (name.type === 'JSXIdentifier' && /^[A-Z]/.test(name.name)) context.markVariableAsUsed(name.name);
      },
    };
  },
};

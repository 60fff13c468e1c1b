export function Loading({ children }) {
  return (
    <p className="loading" role="status" data-testid="loading">
      <span className="spinner" aria-hidden="true" />
      {children}
    </p>
  );
}

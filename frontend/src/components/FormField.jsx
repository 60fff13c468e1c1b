import { forwardRef } from 'react';

/** A labelled input whose error (if any) is tied to it with aria-describedby. */
export const FormField = forwardRef(function FormField({ name, label, error, hint, ...inputProps }, ref) {
  const id = `field-${name}`;
  const describedBy = [hint && `${id}-hint`, error && `${id}-error`].filter(Boolean).join(' ');
  return (
    <div className={`field${error ? ' field-invalid' : ''}`}>
      <label htmlFor={id}>{label}</label>
      <input
        ref={ref}
        id={id}
        name={name}
        aria-invalid={error ? 'true' : undefined}
        aria-describedby={describedBy || undefined}
        {...inputProps}
      />
      {hint && (
        <p className="field-hint" id={`${id}-hint`}>
          {hint}
        </p>
      )}
      {error && (
        <p className="field-error" id={`${id}-error`} data-testid={`${name}-error`}>
          {error}
        </p>
      )}
    </div>
  );
});

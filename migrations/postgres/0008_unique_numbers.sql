-- A registration number names one application of a tenant. Staff may type
-- one by hand; a number already in use is refused at the field.
CREATE UNIQUE INDEX applications_number ON applications (tenant_id, number);

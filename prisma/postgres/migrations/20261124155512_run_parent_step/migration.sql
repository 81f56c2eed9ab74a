-- AlterTable
ALTER TABLE "Run" ADD COLUMN     "parentStepId" TEXT;
